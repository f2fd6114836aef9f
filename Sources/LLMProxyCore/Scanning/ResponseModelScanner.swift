/// The model a provider says answered, from the first part of its answer:
/// `"model"` (OpenAI, Azure, Anthropic's `message_start`, an SSE chunk) or
/// `"modelVersion"` (Gemini's native API). Read only for traced requests,
/// for `gen_ai.response.model`; the first string value of either key wins.
package enum ResponseModelScanner {
    /// Longer values are not a model name.
    static let longestModel = 200

    package static func model(in bytes: some Collection<UInt8>) -> String? {
        let body = Array(bytes.prefix(16 * 1024))
        var index = 0
        while index < body.count {
            guard let quote = body[index...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            for key in [Array("\"model\"".utf8), Array("\"modelVersion\"".utf8)] where body[quote...].starts(with: key) {
                var position = quote + key.count
                while position < body.count, body[position] == 0x20 { position += 1 }
                guard position < body.count, body[position] == UInt8(ascii: ":") else { continue }
                position += 1
                while position < body.count, body[position] == 0x20 { position += 1 }
                guard position < body.count, body[position] == UInt8(ascii: "\"") else { continue }
                let start = position + 1
                guard let end = body[start...].prefix(longestModel).firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
                    body[end] == UInt8(ascii: "\""), end > start
                else { return nil }
                return String(decoding: body[start..<end], as: UTF8.self)
            }
            index = quote + 1
        }
        return nil
    }
}
