import NIOCore

/// Finds a Responses API answer's id in its first bytes, as they are
/// relayed, without decoding anything: the value of the first `"id"` key.
/// A response object starts with it (`{"id":"resp_…","object":"response",…`),
/// and a stream's first event carries the response whose first key it is
/// (`data: {"type":"response.created",…,"response":{"id":"resp_…"`).
///
/// A byte-at-a-time matcher, so a read boundary anywhere (inside the key,
/// the value, the whitespace) changes nothing; it gives up after
/// `searchLimit` bytes, or on an id longer than `maximumIDLength`.
///
///     var scanner = ResponseIDScanner()
///     scanner.observe(ByteBuffer(string: #"{"id": "resp_1","#))
///     scanner.id   // "resp_1"
public struct ResponseIDScanner: Sendable {
    public private(set) var id: String?
    /// Done: found, or given up.
    public var isDone: Bool { id != nil || state == .gaveUp }

    public static let searchLimit = 16384
    public static let maximumIDLength = 256

    private enum State: Equatable {
        /// Matching `"id"`: how many of its four bytes matched.
        case key(matched: Int)
        /// After the key: whitespace, then `:`.
        case colon
        /// After the colon: whitespace, then the value's opening quote.
        case openingQuote
        case value
        case gaveUp
    }

    private var state = State.key(matched: 0)
    private var seen = 0
    private var value: [UInt8] = []
    private static let key: [UInt8] = Array(#""id""#.utf8)

    public init() {}

    public mutating func observe(_ buffer: ByteBuffer) {
        guard !isDone else { return }
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                step(byte)
                if isDone { return }
            }
        }
    }

    private mutating func step(_ byte: UInt8) {
        seen += 1
        switch state {
        case .key(let matched):
            if byte == Self.key[matched] {
                state = matched + 1 == Self.key.count ? .colon : .key(matched: matched + 1)
            } else {
                state = .key(matched: byte == Self.key[0] ? 1 : 0)
            }
        case .colon:
            if byte == UInt8(ascii: ":") {
                state = .openingQuote
            } else if !Self.isWhitespace(byte) {
                // `"id"` was a string value, not a key: look further.
                state = .key(matched: byte == Self.key[0] ? 1 : 0)
            }
        case .openingQuote:
            if byte == UInt8(ascii: "\"") {
                state = .value
            } else if !Self.isWhitespace(byte) {
                state = .gaveUp  // an id that is not a string
            }
        case .value:
            if byte == UInt8(ascii: "\"") {
                id = value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
                if id == nil { state = .gaveUp }
                value = []
                return
            }
            // Ids are plain ASCII; an escape or an overlong value is not one.
            guard byte != UInt8(ascii: "\\"), byte >= 0x20, value.count < Self.maximumIDLength else {
                state = .gaveUp
                return
            }
            value.append(byte)
        case .gaveUp:
            return
        }
        if seen >= Self.searchLimit && id == nil && state != .value { state = .gaveUp }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
