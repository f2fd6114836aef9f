/// Finds the top-level `"model"` of a JSON request body in one pass over
/// its bytes, validating the whole document on the way, so the gateway can
/// replace that one value without decoding and re-encoding the body (which
/// costs ~100x more and reorders or reformats what the client sent).
///
/// It rejects what a provider might read differently from the gateway: a
/// duplicate top-level `model`, a key spelled with escapes (`"mod\u0065l"`),
/// and anything that is not a JSON object. `"model"` inside nested objects
/// or inside string values is ignored.
public struct ModelFieldScanner {
    public struct Field: Equatable, Sendable {
        /// The value's byte range, quotes included.
        public var valueRange: Range<Int>
        /// The value, unescaped.
        public var model: String
    }

    public struct Failure: Error, Equatable, Sendable {
        public var message: String
        public var param: String?
    }

    /// Containers nested deeper than this are refused rather than risking
    /// the stack or the CPU on adversarial input.
    public static let maximumDepth = 256

    /// The `model` field, or nil when the object has none.
    public static func scan(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Field? {
        var scanner = Scanner(bytes: bytes)
        return try scanner.scanDocument()
    }

    /// The fields of a body the gateway reads: `model`, and the Responses
    /// API's top-level `previous_response_id` (a string; nil when absent or null).
    public struct Fields: Sendable {
        public var model: Field?
        public var previousResponseID: String?
    }

    /// `scan`, with the top-level `previous_response_id` read on the same pass.
    public static func scanFields(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Fields {
        var scanner = Scanner(bytes: bytes)
        let model = try scanner.scanDocument()
        return Fields(model: model, previousResponseID: scanner.previousResponseID)
    }

    public static func scan(_ bytes: [UInt8]) throws(Failure) -> Field? {
        let result: Result<Field?, Failure> = bytes.withUnsafeBytes { buffer in
            do throws(Failure) { return .success(try scan(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The bytes of `word` (eight, read little-endian) that may end or
    /// escape a string, as their high bits: a quote, a backslash or a control
    /// character. SWAR: a byte equal to zero, or below 0x20, sets its high bit
    /// in these expressions; borrows can also flag bytes after a real one, so
    /// only the lowest flag is exact, which is all the scanner uses.
    @inline(__always)
    package static func stringSpecialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let zeroQuote = (quotes &- ones) & ~quotes
        let zeroBackslash = (backslashes &- ones) & ~backslashes
        let control = (word &- ones &* 0x20) & ~word
        return (zeroQuote | zeroBackslash | control) & 0x8080_8080_8080_8080
    }

    private struct Scanner {
        package let bytes: UnsafeRawBufferPointer
        package var index = 0
        package var field: Field? = nil
        package var previousResponseID: String? = nil
        /// The value being read is the top-level `previous_response_id`'s.
        private var valueIsPreviousResponseID = false

        package init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        package mutating func scanDocument() throws(Failure) -> Field? {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else {
                throw Failure(message: "The request body must be a JSON object.", param: nil)
            }
            // Each entry is `{` or `[`.
            var stack = ContainerStack()
            var valueIsModel = false
            var needValue = true
            while true {
                if needValue {
                    skipWhitespace()
                    guard index < bytes.count else { throw invalid("unexpected end of the body") }
                    let byte = bytes[index]
                    let isModel = valueIsModel
                    valueIsModel = false
                    let isPreviousResponseID = valueIsPreviousResponseID
                    valueIsPreviousResponseID = false
                    if isModel && byte != UInt8(ascii: "\"") {
                        throw Failure(message: "'model' must be a string.", param: "model")
                    }
                    switch byte {
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        guard stack.count < ModelFieldScanner.maximumDepth else { throw invalid("nesting is too deep") }
                        stack.push(byte)
                        index += 1
                        skipWhitespace()
                        let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                        if index < bytes.count && bytes[index] == close {
                            index += 1
                            stack.removeLast()
                        } else if byte == UInt8(ascii: "{") {
                            valueIsModel = try scanKey(topLevel: stack.count == 1)
                            continue
                        } else {
                            continue
                        }
                    case UInt8(ascii: "\""):
                        let start = index
                        let hasEscapes = try scanString()
                        if isModel {
                            field = Field(valueRange: start..<index, model: decodeString(start..<index, hasEscapes: hasEscapes))
                        } else if isPreviousResponseID {
                            previousResponseID = decodeString(start..<index, hasEscapes: hasEscapes)
                        }
                    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                        try scanNumber()
                    case UInt8(ascii: "t"): try scanLiteral("true")
                    case UInt8(ascii: "f"): try scanLiteral("false")
                    case UInt8(ascii: "n"): try scanLiteral("null")
                    default:
                        throw invalid("unexpected character at byte \(index)")
                    }
                    needValue = false
                }
                // After a value: a separator or the end of a container.
                guard let container = stack.last else {
                    skipWhitespace()
                    guard index == bytes.count else { throw invalid("unexpected data after the JSON object") }
                    return field
                }
                skipWhitespace()
                guard index < bytes.count else { throw invalid("unexpected end of the body") }
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: ",") {
                    if container == UInt8(ascii: "{") { valueIsModel = try scanKey(topLevel: stack.count == 1) }
                    needValue = true
                } else if (byte == UInt8(ascii: "}") && container == UInt8(ascii: "{"))
                    || (byte == UInt8(ascii: "]") && container == UInt8(ascii: "["))
                {
                    stack.removeLast()
                } else {
                    throw invalid("expected ',' or the end of a container at byte \(index - 1)")
                }
            }
        }

        /// Scans `"key" :` and says whether it is the top-level `model` key.
        package mutating func scanKey(topLevel: Bool) throws(Failure) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw invalid("expected an object key at byte \(index)") }
            let start = index
            let hasEscapes = try scanString()
            let keyEnd = index
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw invalid("expected ':' at byte \(index)") }
            index += 1
            guard topLevel else { return false }
            let isModel: Bool
            if hasEscapes {
                if decodeString(start..<keyEnd, hasEscapes: true) == "model" {
                    throw Failure(message: "The 'model' key must not be written with escape sequences.", param: "model")
                }
                isModel = false
            } else {
                isModel = rawEquals(start..<keyEnd, "\"model\"")
                valueIsPreviousResponseID = !isModel && rawEquals(start..<keyEnd, "\"previous_response_id\"")
            }
            if isModel && field != nil {
                throw Failure(message: "'model' is given more than once.", param: "model")
            }
            return isModel
        }

        /// Advances past a string; returns whether it contained escapes.
        package mutating func scanString() throws(Failure) -> Bool {
            index += 1
            var hasEscapes = false
            while index < bytes.count {
                // Prompts are most of a body: eight bytes at a time to the
                // next one that matters.
                if index + 8 <= bytes.count {
                    let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    let special = ModelFieldScanner.stringSpecialBytes(word)
                    if special == 0 {
                        index += 8
                        continue
                    }
                    index += special.trailingZeroBitCount >> 3
                }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return hasEscapes
                } else if byte == UInt8(ascii: "\\") {
                    hasEscapes = true
                    guard index + 1 < bytes.count else { break }
                    switch bytes[index + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 2
                    case UInt8(ascii: "u"):
                        guard index + 5 < bytes.count, (2...5).allSatisfy({ Self.hexValue(bytes[index + $0]) != nil }) else {
                            throw invalid("invalid \\u escape at byte \(index)")
                        }
                        index += 6
                    default:
                        throw invalid("invalid escape at byte \(index)")
                    }
                } else if byte < 0x20 {
                    throw invalid("control character in a string at byte \(index)")
                } else {
                    index += 1
                }
            }
            throw invalid("unterminated string")
        }

        package mutating func scanNumber() throws(Failure) {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw invalid("invalid number at byte \(start)") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while index < bytes.count && isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw invalid("invalid number at byte \(start)") }
                while index < bytes.count && isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                index += 1
                if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw invalid("invalid number at byte \(start)") }
                while index < bytes.count && isDigit(bytes[index]) { index += 1 }
            }
        }

        package mutating func scanLiteral(_ literal: StaticString) throws(Failure) {
            let length = literal.utf8CodeUnitCount
            guard index + length <= bytes.count else { throw invalid("invalid literal at byte \(index)") }
            for offset in 0..<length where bytes[index + offset] != literal.utf8Start[offset] {
                throw invalid("invalid literal at byte \(index)")
            }
            index += length
        }

        package mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        package func rawEquals(_ range: Range<Int>, _ text: StaticString) -> Bool {
            guard range.count == text.utf8CodeUnitCount else { return false }
            for (offset, position) in range.enumerated() where bytes[position] != text.utf8Start[offset] { return false }
            return true
        }

        package func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        package static func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }

        /// Decodes a scanned string literal (quotes included in `range`).
        package func decodeString(_ range: Range<Int>, hasEscapes: Bool) -> String {
            let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
            guard hasEscapes else { return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[inner]), as: UTF8.self) }
            var scalars = String.UnicodeScalarView()
            var utf8: [UInt8] = []
            func flush() {
                if !utf8.isEmpty {
                    scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                    utf8.removeAll()
                }
            }
            var position = inner.lowerBound
            var pendingHighSurrogate: UInt32? = nil
            while position < inner.upperBound {
                let byte = bytes[position]
                guard byte == UInt8(ascii: "\\") else {
                    utf8.append(byte)
                    position += 1
                    continue
                }
                flush()
                let escape = bytes[position + 1]
                position += 2
                var scalarValue: UInt32
                switch escape {
                case UInt8(ascii: "b"): scalarValue = 0x08
                case UInt8(ascii: "f"): scalarValue = 0x0C
                case UInt8(ascii: "n"): scalarValue = 0x0A
                case UInt8(ascii: "r"): scalarValue = 0x0D
                case UInt8(ascii: "t"): scalarValue = 0x09
                case UInt8(ascii: "u"):
                    scalarValue = (0..<4).reduce(0) { $0 * 16 + (Self.hexValue(bytes[position + $1]) ?? 0) }
                    position += 4
                default: scalarValue = UInt32(escape)
                }
                if (0xD800...0xDBFF).contains(scalarValue) {
                    pendingHighSurrogate = scalarValue
                    continue
                }
                if let high = pendingHighSurrogate, (0xDC00...0xDFFF).contains(scalarValue) {
                    scalarValue = 0x10000 + ((high - 0xD800) << 10) + (scalarValue - 0xDC00)
                }
                pendingHighSurrogate = nil
                scalars.append(Unicode.Scalar(scalarValue) ?? "\u{FFFD}")
            }
            flush()
            return String(scalars)
        }

        package func invalid(_ detail: String) -> Failure {
            Failure(message: "The request body is not valid JSON: \(detail).", param: nil)
        }
    }
}

/// The open containers of a scan, one bit each (set for `[`), up to
/// `ModelFieldScanner.maximumDepth`: a request body is scanned without a
/// heap allocation.
private struct ContainerStack {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    package private(set) var count = 0

    package init() {
        assert(ModelFieldScanner.maximumDepth <= 256)
    }

    /// `{` or `[`, the innermost open container.
    package var last: UInt8? {
        guard count > 0 else { return nil }
        return bit(count - 1) ? UInt8(ascii: "[") : UInt8(ascii: "{")
    }

    package mutating func push(_ opener: UInt8) {
        let index = count
        let mask = UInt64(1) << UInt64(index & 63)
        let isArray = opener == UInt8(ascii: "[")
        withUnsafeMutableBytes(of: &words) { raw in
            let word = raw.bindMemory(to: UInt64.self)
            word[index >> 6] = isArray ? word[index >> 6] | mask : word[index >> 6] & ~mask
        }
        count += 1
    }

    package mutating func removeLast() {
        count -= 1
    }

    private func bit(_ index: Int) -> Bool {
        withUnsafeBytes(of: words) { raw in
            raw.load(fromByteOffset: (index >> 6) * 8, as: UInt64.self) & (UInt64(1) << UInt64(index & 63)) != 0
        }
    }
}
