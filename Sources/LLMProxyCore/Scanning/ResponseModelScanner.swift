/// The model a provider says answered, from the first part of its answer:
/// `"model"` (OpenAI, Azure, Anthropic's `message_start`, an SSE chunk) or
/// `"modelVersion"` (Gemini's native API). Read only for traced requests,
/// for `gen_ai.response.model`; the first string value of either key wins.
package enum ResponseModelScanner {
    /// Longer values are not a model name.
    static let longestModel = 200
    /// Only the first 16 KB are read.
    static let scannedBytes = 16 * 1024

    package static func model(in bytes: some Collection<UInt8>) -> String? {
        bytes.withContiguousStorageIfAvailable { model(in: UnsafeRawBufferPointer($0)) } ?? Array(bytes.prefix(scannedBytes)).withUnsafeBytes { model(in: $0) }
    }

    /// Over the bytes in place: the generic version, which copied them and
    /// built its keys at every quote, cost ~16,000 instructions a response.
    package static func model(in bytes: UnsafeRawBufferPointer) -> String? {
        let count = min(bytes.count, scannedBytes)
        var index = 0
        while index < count {
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            if let model = stringValue(in: bytes, count: count, afterKeyAt: index) { return model.isEmpty ? nil : model }
            index += 1
        }
        return nil
    }

    /// At the quote at `quote`: the value of a `"model"` or `"modelVersion"`
    /// key if it is a string ("" for one that is no model name: empty, too
    /// long or escaped), nil when this is not such a key with a string value.
    private static func stringValue(in bytes: UnsafeRawBufferPointer, count: Int, afterKeyAt quote: Int) -> String? {
        guard matches(bytes, count: count, at: quote, "\"model") else { return nil }
        var position = quote + 6
        if matches(bytes, count: count, at: position, "Version") { position += 7 }
        guard position < count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        position += 1
        while position < count, bytes[position] == 0x20 { position += 1 }
        guard position < count, bytes[position] == UInt8(ascii: ":") else { return nil }
        position += 1
        while position < count, bytes[position] == 0x20 { position += 1 }
        guard position < count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        var end = start
        while end < count, end - start < longestModel, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        guard end < count, end - start < longestModel, bytes[end] == UInt8(ascii: "\""), end > start else { return "" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, count: Int, at position: Int, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard position + length <= count else { return false }
        let text = literal.utf8Start
        for offset in 0..<length where bytes[position + offset] != text[offset] { return false }
        return true
    }
}
