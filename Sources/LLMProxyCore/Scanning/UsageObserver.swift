#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Reads token counts from a response as it passes through, without
/// buffering or altering it: OpenAI's `usage` (`prompt_tokens`,
/// `completion_tokens`, `total_tokens`), Gemini's `usageMetadata`
/// (`promptTokenCount`, `candidatesTokenCount`, `totalTokenCount`) and
/// Anthropic's `usage` (`input_tokens`, `output_tokens`, whose sum is the
/// total: `message_start` carries the input, `message_delta` the output so
/// far). A stream reports usage in its last chunks; the last value seen wins.
package struct UsageObserver {
    package init() {}

    package struct Usage: Equatable {
        package var prompt = 0
        package var completion = 0
        package var total = 0
    }

    package private(set) var usage: Usage?
    /// The tail of the previous part, so a field split across reads is still
    /// seen; held inline, so observing allocates nothing.
    private var carry: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    private var carryCount = 0
    private static let carryLength = 40

    private enum Slot: Sendable {
        case prompt, completion, total
        /// Anthropic's, which gives no total.
        case input, output
    }

    /// Static strings: comparing against them reads no array storage and
    /// retains nothing.
    private static let fields: [(name: StaticString, slot: Slot)] = [
        ("\"prompt_tokens\"", .prompt),
        ("\"completion_tokens\"", .completion),
        ("\"total_tokens\"", .total),
        ("\"promptTokenCount\"", .prompt),
        ("\"candidatesTokenCount\"", .completion),
        ("\"totalTokenCount\"", .total),
        ("\"input_tokens\"", .input),
        ("\"output_tokens\"", .output),
    ]

    package mutating func observe(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count > 0 else { return }
            // The carry and this part's start, copied to the stack: fields
            // that start in earlier parts and end in this one are read there;
            // this part itself is scanned in place.
            var seam: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let carried = carryCount
            let added = min(bytes.count, Self.carryLength)
            withUnsafeMutableBytes(of: &seam) { seamBytes in
                let seamStart = seamBytes.baseAddress!
                withUnsafeBytes(of: carry) { seamStart.copyMemory(from: $0.baseAddress!, byteCount: carried) }
                (seamStart + carried).copyMemory(from: bytes.baseAddress!, byteCount: added)
                if carried > 0 { scan(UnsafeRawBufferPointer(start: seamStart, count: carried + added), startsBefore: carried) }
                scan(bytes, startsBefore: bytes.count)
                // The next carry: the last bytes seen, across parts when this one is short.
                let tail = bytes.count >= Self.carryLength
                    ? UnsafeRawBufferPointer(start: bytes.baseAddress! + (bytes.count - Self.carryLength), count: Self.carryLength)
                    : UnsafeRawBufferPointer(start: seamStart + max(0, carried + added - Self.carryLength), count: min(carried + added, Self.carryLength))
                carryCount = tail.count
                withUnsafeMutableBytes(of: &carry) { $0.baseAddress!.copyMemory(from: tail.baseAddress!, byteCount: tail.count) }
            }
        }
    }

    /// Looks for `"name"`, `:` and digits, for fields starting before
    /// `startsBefore`. Seeing a field twice (in the seam and before it) is
    /// harmless: it stores the same value.
    ///
    /// Every field name ends in `_tokens"` (OpenAI) or `TokenCount"`
    /// (Gemini), both with a `k`, which JSON keys and model text have far
    /// fewer of than quotes: the scan jumps from `k` to `k` (memchr) rather
    /// than through a completion's dozens of quoted keys and values. From
    /// an ending, the name's opening quote is 6, 7 or 11 bytes back (total or
    /// input; prompt or output; completion or candidates).
    private mutating func scan(_ bytes: UnsafeRawBufferPointer, startsBefore: Int) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        // A field's `k` is at least 8 bytes after its opening quote (`"totalTokenCount"`).
        var index = 8
        while index < count {
            guard let hit = memchr(base + index, Int32(UInt8(ascii: "k")), count - index) else { return }
            index = UnsafeRawPointer(hit) - base
            let end: Int
            if Self.matches(bytes, at: index - 3, "_tokens\"") {
                end = index - 3
            } else if Self.matches(bytes, at: index - 2, "TokenCount\"") {
                end = index - 2
            } else {
                index += 1
                continue
            }
            if end - 11 >= startsBefore { return }
            readField(bytes, quotedAt: end - 6, startsBefore: startsBefore)
            readField(bytes, quotedAt: end - 7, startsBefore: startsBefore)
            readField(bytes, quotedAt: end - 11, startsBefore: startsBefore)
            index += 1
        }
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, at index: Int, _ text: StaticString) -> Bool {
        index >= 0 && index + text.utf8CodeUnitCount <= bytes.count
            && memcmp(bytes.baseAddress! + index, text.utf8Start, text.utf8CodeUnitCount) == 0
    }

    private mutating func readField(_ bytes: UnsafeRawBufferPointer, quotedAt index: Int, startsBefore: Int) {
        if index >= 0 && index < startsBefore && bytes[index] == UInt8(ascii: "\"") { readField(bytes, at: index) }
    }

    /// A field name starting at `index` (its opening quote), then `:` and digits.
    private mutating func readField(_ bytes: UnsafeRawBufferPointer, at index: Int) {
        let count = bytes.count
        for field in Self.fields {
            let length = field.name.utf8CodeUnitCount
            // The first two letters rule out most keys (`"choices"`, `"created"`) before a memcmp.
            guard index + length <= count, bytes[index + 1] == field.name.utf8Start[1], bytes[index + 2] == field.name.utf8Start[2],
                memcmp(bytes.baseAddress! + index, field.name.utf8Start, length) == 0
            else { continue }
            var position = index + length
            while position < count, bytes[position] == 0x20 { position += 1 }
            guard position < count, bytes[position] == UInt8(ascii: ":") else { return }
            position += 1
            while position < count, bytes[position] == 0x20 { position += 1 }
            var value = 0
            var digits = 0
            while position < count, bytes[position] >= 0x30, bytes[position] <= 0x39, digits < 12 {
                value = value * 10 + Int(bytes[position] - 0x30)
                position += 1
                digits += 1
            }
            // A number cut by the end of this part is read from the seam next time.
            if digits > 0 && position < count {
                var current = usage ?? Usage()
                switch field.slot {
                case .prompt: current.prompt = value
                case .completion: current.completion = value
                case .total: current.total = value
                case .input:
                    current.prompt = value
                    current.total = value + current.completion
                case .output:
                    current.completion = value
                    current.total = current.prompt + value
                }
                usage = current
            }
            return
        }
    }
}
