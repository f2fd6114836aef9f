import NIOCore

/// A reply of the Redis protocol (RESP2), the only one the gateway speaks:
/// the shared limiter needs integers, strings and arrays of them, nothing of
/// RESP3. The client is ours because no Swift Redis client resolves here;
/// this file and `RedisConnectionStateMachine` are the whole protocol side.
package enum RESPValue: Equatable, Sendable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// nil: the null bulk string.
    case bulkString([UInt8]?)
    /// nil: the null array.
    case array([RESPValue]?)

    package var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString(let bytes?): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    package var stringValue: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulkString(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }
}

package struct RESPProtocolError: Error, Equatable, CustomStringConvertible {
    package var description: String
}

/// Reads replies off a connection's bytes, one complete value at a time;
/// an incomplete one leaves the buffer as it was, for the next read.
package struct RESPDecoder {
    /// Replies the gateway asks for are small; anything larger is a protocol
    /// error rather than memory spent on a confused server.
    package static let maximumBulkLength = 1 << 20
    package static let maximumArrayLength = 1 << 16
    package static let maximumDepth = 8

    package init() {}

    /// The next complete reply in `buffer`, consuming it; nil when more bytes are needed.
    package mutating func decode(_ buffer: inout ByteBuffer) throws(RESPProtocolError) -> RESPValue? {
        var cursor = buffer.readerIndex
        let value = try buffer.withUnsafeReadableBytes { bytes throws(RESPProtocolError) -> RESPValue? in
            var offset = 0
            let value = try Self.value(bytes, &offset, depth: 0)
            cursor += offset
            return value
        }
        if value != nil { buffer.moveReaderIndex(to: cursor) }
        return value
    }

    private static func value(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard offset < bytes.count else { return nil }
        let type = bytes[offset]
        guard let line = Self.line(bytes, from: offset + 1) else {
            if bytes.count - offset > 4096 { throw RESPProtocolError(description: "a reply line longer than 4 KB") }
            return nil
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<line]), as: UTF8.self)
        let afterLine = line + 2
        switch type {
        case UInt8(ascii: "+"):
            offset = afterLine
            return .simpleString(text)
        case UInt8(ascii: "-"):
            offset = afterLine
            return .error(text)
        case UInt8(ascii: ":"):
            guard let number = Int64(text) else { throw RESPProtocolError(description: "an integer reply that is not one: \(text.prefix(40))") }
            offset = afterLine
            return .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1, length <= maximumBulkLength else {
                throw RESPProtocolError(description: "a bulk length out of bounds: \(text.prefix(40))")
            }
            if length == -1 {
                offset = afterLine
                return .bulkString(nil)
            }
            guard afterLine + length + 2 <= bytes.count else { return nil }
            guard bytes[afterLine + length] == 0x0D, bytes[afterLine + length + 1] == 0x0A else {
                throw RESPProtocolError(description: "a bulk string not ended by CRLF")
            }
            let payload = Array(UnsafeRawBufferPointer(rebasing: bytes[afterLine..<(afterLine + length)]))
            offset = afterLine + length + 2
            return .bulkString(payload)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1, count <= maximumArrayLength else {
                throw RESPProtocolError(description: "an array length out of bounds: \(text.prefix(40))")
            }
            if count == -1 {
                offset = afterLine
                return .array(nil)
            }
            guard depth < maximumDepth else { throw RESPProtocolError(description: "arrays nested too deep") }
            var elements: [RESPValue] = []
            elements.reserveCapacity(count)
            var position = afterLine
            for _ in 0..<count {
                guard let element = try value(bytes, &position, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            offset = position
            return .array(elements)
        default:
            throw RESPProtocolError(description: "an unknown reply type byte \(type)")
        }
    }

    /// The index of the CR of the first CRLF at or after `from`.
    private static func line(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var index = from
        while index + 1 < bytes.count {
            if bytes[index] == 0x0D && bytes[index + 1] == 0x0A { return index }
            index += 1
        }
        return nil
    }
}

/// Commands as RESP arrays of bulk strings.
package enum RESPCommand {
    package static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeString(String(arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            buffer.writeString(String(argument.utf8.count))
            buffer.writeStaticString("\r\n")
            buffer.writeString(argument)
            buffer.writeStaticString("\r\n")
        }
    }

}
