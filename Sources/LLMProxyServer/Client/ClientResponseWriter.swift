import LLMProxyCore
import NIOCore
import NIOHTTP1

/// How the body of a response to the client is delimited.
enum ResponseFraming: Equatable {
    /// No body: a response to HEAD, or a 1xx, 204 or 304.
    case none
    case contentLength
    case chunked
    /// An HTTP/1.0 client and a body of unknown length: closing ends it.
    case untilClose
}

/// Writes responses to the client as HTTP/1.1 bytes. The head and small
/// body parts gather in one buffer, so a typical completion leaves in one
/// write; larger parts go out as they came, without a copy. NIO's response
/// encoder took a write per part and rebuilt the headers it was handed,
/// which cost more than everything else of relaying the response.
///
/// A value type with no channel: `GatewayHandler` writes what it hands out.
struct ClientResponseWriter {
    /// Parts up to this size are copied into the pending buffer.
    static let copyLimit = 4096

    private(set) var framing = ResponseFraming.none
    private var pending: ByteBuffer?

    /// Starts a response: status line, the caller's headers, the framing
    /// headers, `Connection: close` unless `keepAlive`. `contentLength` nil
    /// means not known yet, which is chunked for HTTP/1.1 clients and
    /// delimited by closing for HTTP/1.0 ones (so `keepAlive` turns false).
    mutating func head(
        version: HTTPVersion, status: HTTPResponseStatus, contentLength: Int?, requestIsHEAD: Bool, keepAlive: inout Bool,
        allocator: ByteBufferAllocator, headers: (inout ByteBuffer) -> Void
    ) {
        let code = Int(status.code)
        let bodyless = code < 200 || code == 204 || code == 304
        if bodyless || requestIsHEAD {
            framing = .none
        } else if contentLength != nil {
            framing = .contentLength
        } else if version.major > 1 || (version.major == 1 && version.minor >= 1) {
            framing = .chunked
        } else {
            framing = .untilClose
            keepAlive = false
        }
        var buffer = takePending() ?? allocator.buffer(capacity: 512)
        buffer.writeStaticString(version.major == 1 && version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeDecimal(code)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        headers(&buffer)
        if !bodyless {
            if let contentLength {
                buffer.writeHTTPHeader("Content-Length", decimal: contentLength)
            } else if framing == .chunked {
                buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
            }
        }
        if !keepAlive { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        pending = buffer
    }

    /// A body part. `write` receives what must go out before it, when it is
    /// too large to copy.
    mutating func body(_ part: ByteBuffer, allocator: ByteBufferAllocator, write: (ByteBuffer) -> Void) {
        guard framing != .none, part.readableBytes > 0 else { return }
        let chunked = framing == .chunked
        if part.readableBytes > Self.copyLimit {
            if chunked {
                var header = takePending() ?? allocator.buffer(capacity: 16)
                header.writeHexadecimal(part.readableBytes)
                header.writeStaticString("\r\n")
                write(header)
            } else if let pending {
                write(pending)
            }
            write(part)
            pending = nil
            if chunked {
                var trailer = allocator.buffer(capacity: 2)
                trailer.writeStaticString("\r\n")
                pending = trailer
            }
            return
        }
        var buffer = takePending() ?? allocator.buffer(capacity: part.readableBytes + 16)
        if chunked {
            buffer.writeHexadecimal(part.readableBytes)
            buffer.writeStaticString("\r\n")
        }
        var part = part
        buffer.writeBuffer(&part)
        if chunked { buffer.writeStaticString("\r\n") }
        pending = buffer
    }

    /// The body is complete: what is left to write, the chunked terminator included.
    mutating func end(allocator: ByteBufferAllocator) -> ByteBuffer? {
        if framing == .chunked {
            var buffer = takePending() ?? allocator.buffer(capacity: 5)
            buffer.writeStaticString("0\r\n\r\n")
            pending = buffer
        }
        framing = .none
        return takePending()
    }

    /// What has gathered so far, for a flush.
    mutating func takePending() -> ByteBuffer? {
        defer { pending = nil }
        return pending
    }
}
