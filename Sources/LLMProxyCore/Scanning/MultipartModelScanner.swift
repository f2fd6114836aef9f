/// Finds the `model` form field of a `multipart/form-data` upload (OpenAI's
/// `/v1/audio/transcriptions` and `/translations`) in the bytes read so far,
/// so the gateway can pick a provider and replace that one value while the
/// file behind it streams through unread.
///
/// Resumable: `scan` is given the body's bytes from its start each time more
/// arrived (the prefix the gateway holds until the field is found) and goes
/// on from where it stopped, so a read boundary anywhere (inside a boundary
/// line, the part headers, the value) changes nothing and no byte is looked
/// at twice but a boundary's length.
///
/// Refused as malformed: a body that does not start with the boundary, part
/// headers over `maximumHeaderBytes` or without a `Content-Disposition`
/// name, a `model` value over `maximumModelBytes`, and (at the end) a body
/// that ends before its closing boundary or has no `model` field.
///
///     var scanner = MultipartModelScanner(contentType: "multipart/form-data; boundary=XyZ")!
///     scanner.scan(bytes)        // .needMore, until the model part is complete
///     scanner.scan(moreBytes)    // .found(Field(valueRange: 52..<61, model: "whisper-1"))
public struct MultipartModelScanner: Sendable {
    public typealias Field = ModelFieldScanner.Field
    public typealias Failure = ModelFieldScanner.Failure

    public enum Outcome: Equatable, Sendable {
        /// The field is not complete in the bytes so far.
        case needMore
        case found(Field)
        case failed(Failure)
    }

    public static let maximumHeaderBytes = 8192
    public static let maximumModelBytes = 1024

    private enum State: Sendable {
        /// Looking for the first boundary line.
        case opening
        /// After a boundary line: the part's headers, from `start`.
        case headers(start: Int)
        /// A part's content, from `start`; `isModel`: the `model` field's.
        case content(start: Int, isModel: Bool)
        /// The closing boundary went by.
        case closed
        case finished(Outcome)
    }

    /// `--boundary`.
    private let delimiter: [UInt8]
    private var state = State.opening
    /// Where the next search starts.
    private var position = 0

    /// nil when `contentType` is not `multipart/form-data` with a boundary.
    public init?(contentType: Substring) {
        guard let boundary = Self.boundary(in: contentType) else { return nil }
        delimiter = Array("--\(boundary)".utf8)
    }

    public init?(contentType: String) { self.init(contentType: contentType[...]) }

    /// The `boundary` parameter of a `multipart/form-data` media type
    /// (RFC 7578; quoted or not, 1 to 70 characters).
    package static func boundary(in contentType: Substring) -> String? {
        guard let type = contentType.split(separator: ";").first, type.trimmingASCIISpaces().lowercased() == "multipart/form-data",
            let value = parameter("boundary", in: contentType)
        else { return nil }
        guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") || $0 == 0x20 }) else {
            return nil
        }
        return String(value)
    }

    /// The value of parameter `name` (lower case) in a header value's `; name=value`
    /// list, its quotes taken off; the part before the first `;` is not a parameter.
    private static func parameter(_ name: String, in header: Substring) -> Substring? {
        for parameter in header.split(separator: ";").dropFirst() {
            let trimmed = parameter.trimmingASCIISpaces()
            guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals].trimmingASCIISpaces().lowercased() == name else { continue }
            var value = trimmed[trimmed.index(after: equals)...].trimmingASCIISpaces()
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return value
        }
        return nil
    }

    /// Goes on over `bytes` (the whole body so far, from its first byte).
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        while true {
            switch state {
            case .finished(let outcome):
                return outcome
            case .closed:
                return finish(.failed(Failure(message: "'model' is required (a form field of the multipart body).", param: "model")))
            case .opening:
                // RFC 2046 allows a preamble; the delimiter then starts a line.
                guard let found = find(delimiter, in: bytes, from: position, atLineStart: true) else {
                    position = max(position, bytes.count - delimiter.count - 2)
                    if bytes.count > Self.maximumHeaderBytes { return finish(.failed(malformed("no boundary line where the body starts"))) }
                    return .needMore
                }
                guard let next = afterDelimiter(found, in: bytes) else { return .needMore }
                guard next.isPartStart else { state = .closed; continue }
                state = .headers(start: next.offset)
                position = next.offset
            case .headers(let start):
                guard let end = find(Self.headerEnd, in: bytes, from: max(start, position - 3), atLineStart: false) else {
                    position = bytes.count
                    if bytes.count - start > Self.maximumHeaderBytes { return finish(.failed(malformed("a part's headers are too long"))) }
                    return .needMore
                }
                guard let name = Self.fieldName(headers: bytes, start..<end) else {
                    return finish(.failed(malformed("a part has no Content-Disposition with a name")))
                }
                let contentStart = end + Self.headerEnd.count
                state = .content(start: contentStart, isModel: name == "model")
                position = contentStart
            case .content(let start, let isModel):
                // The content ends at CRLF + delimiter.
                guard let found = find(delimiter, in: bytes, from: max(start, position), atLineStart: true, lineStartAt: start) else {
                    position = max(start, bytes.count - delimiter.count - 2)
                    if isModel && bytes.count - start > Self.maximumModelBytes + 2 {
                        return finish(.failed(malformed("the 'model' field is too long")))
                    }
                    return .needMore
                }
                let contentEnd = found == start ? start : found - 2
                if isModel {
                    guard contentEnd - start <= Self.maximumModelBytes else { return finish(.failed(malformed("the 'model' field is too long"))) }
                    let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<contentEnd]), as: UTF8.self)
                    return finish(.found(Field(valueRange: start..<contentEnd, model: value)))
                }
                guard let next = afterDelimiter(found, in: bytes) else {
                    position = found
                    return .needMore
                }
                if next.isPartStart {
                    state = .headers(start: next.offset)
                    position = next.offset
                } else {
                    state = .closed
                }
            }
        }
    }

    /// The body ended: what `scan` could not decide yet is now a failure.
    public mutating func bodyEnded(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let outcome = scan(bytes)
        guard outcome == .needMore else { return outcome }
        return finish(.failed(malformed("the body ends before its closing boundary")))
    }

    // MARK: -

    private static let headerEnd: [UInt8] = Array("\r\n\r\n".utf8)

    private mutating func finish(_ outcome: Outcome) -> Outcome {
        state = .finished(outcome)
        return outcome
    }

    private func malformed(_ detail: String) -> Failure {
        Failure(message: "The multipart body is malformed: \(detail).", param: nil)
    }

    /// After a delimiter at `offset`: `\r\n` (a part follows; transport
    /// padding allowed before it) or `--` (the closing one); nil until known.
    private func afterDelimiter(_ offset: Int, in bytes: UnsafeRawBufferPointer) -> (offset: Int, isPartStart: Bool)? {
        var index = offset + delimiter.count
        guard index + 2 <= bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "-") && bytes[index + 1] == UInt8(ascii: "-") { return (index + 2, false) }
        while index < bytes.count && (bytes[index] == 0x20 || bytes[index] == 0x09) { index += 1 }
        guard index + 2 <= bytes.count else { return nil }
        guard bytes[index] == 0x0D && bytes[index + 1] == 0x0A else { return (index, false) }
        return (index + 2, true)
    }

    /// The first `needle` at or after `from`; `atLineStart`: only where it
    /// follows CRLF, or sits at `lineStartAt` (the start of the body or of a
    /// part's content, where the CRLF belongs to what came before).
    private func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int, atLineStart: Bool, lineStartAt: Int = 0) -> Int? {
        guard needle.count <= bytes.count else { return nil }
        let first = needle[0]
        var index = max(from, 0)
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first {
                var matched = 1
                while matched < needle.count && bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count {
                    let startsLine = index == lineStartAt
                        || (index >= 2 && bytes[index - 2] == 0x0D && bytes[index - 1] == 0x0A && index - 2 >= lineStartAt)
                    if !atLineStart || startsLine { return index }
                }
            }
            index += 1
        }
        return nil
    }

    /// The `name` of a part's `Content-Disposition: form-data; name="…"`.
    package static func fieldName(headers bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].trimmingASCIISpaces().lowercased() == "content-disposition" else { continue }
            return parameter("name", in: line[line.index(after: colon)...]).map(String.init)
        }
        return nil
    }
}
