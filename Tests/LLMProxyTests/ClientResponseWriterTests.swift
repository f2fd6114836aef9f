@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import NIOHTTP1
import Testing

@Suite struct ClientResponseWriterTests {
    private let allocator = ByteBufferAllocator()

    /// Everything the writer hands out for one response, in order, as text.
    private func render(
        version: HTTPVersion = .http1_1, status: HTTPResponseStatus = .ok, contentLength: Int?, head: Bool = false,
        keepAlive: Bool = true, parts: [String]
    ) -> (text: String, keepAlive: Bool, framing: ResponseFraming) {
        var writer = ClientResponseWriter()
        var keepAlive = keepAlive
        var out: [ByteBuffer] = []
        writer.head(version: version, status: status, contentLength: contentLength, requestIsHEAD: head, keepAlive: &keepAlive, allocator: allocator) {
            $0.writeHTTPHeader("Content-Type", "text/plain")
        }
        let framing = writer.framing
        for part in parts { writer.body(ByteBuffer(string: part), allocator: allocator) { out.append($0) } }
        if let last = writer.end(allocator: allocator) { out.append(last) }
        return (out.map { String(buffer: $0) }.joined(), keepAlive, framing)
    }

    @Test func knownLengthGoesOutAsOneBuffer() {
        var writer = ClientResponseWriter()
        var keepAlive = true
        var written = 0
        writer.head(version: .http1_1, status: .ok, contentLength: 5, requestIsHEAD: false, keepAlive: &keepAlive, allocator: allocator) { _ in }
        writer.body(ByteBuffer(string: "hello"), allocator: allocator) { _ in written += 1 }
        let last = writer.end(allocator: allocator)
        #expect(written == 0)
        #expect(last.map { String(buffer: $0) } == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test func unknownLengthIsChunkedForHTTP11() {
        let large = String(repeating: "x", count: ClientResponseWriter.copyLimit + 1)
        let result = render(contentLength: nil, parts: ["data: 1\n\n", large, "", "z"])
        #expect(result.framing == .chunked && result.keepAlive)
        #expect(result.text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "9\r\ndata: 1\n\n\r\n" + "1001\r\n" + large + "\r\n" + "1\r\nz\r\n" + "0\r\n\r\n")
    }

    @Test func unknownLengthForHTTP10EndsByClosing() {
        let result = render(version: .http1_0, contentLength: nil, parts: ["a", "b"])
        #expect(result.framing == .untilClose && !result.keepAlive)
        #expect(result.text == "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nab")
    }

    @Test func bodylessResponsesCarryNoBody() {
        let head = render(status: .methodNotAllowed, contentLength: 7, head: true, parts: ["ignored"])
        #expect(head.framing == .none)
        #expect(head.text == "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n")
        let noContent = render(status: .noContent, contentLength: nil, keepAlive: false, parts: ["ignored"])
        #expect(noContent.text == "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    }

    @Test func largePartsAreNotCopied() {
        var writer = ClientResponseWriter()
        var keepAlive = true
        writer.head(version: .http1_1, status: .ok, contentLength: 10_000, requestIsHEAD: false, keepAlive: &keepAlive, allocator: allocator) { _ in }
        let big = ByteBuffer(repeating: 0x61, count: 10_000)
        var out: [ByteBuffer] = []
        writer.body(big, allocator: allocator) { out.append($0) }
        #expect(out.count == 2 && out[1] == big)
        #expect(out[1].withUnsafeReadableBytes { $0.baseAddress } == big.withUnsafeReadableBytes { $0.baseAddress })
        #expect(writer.end(allocator: allocator) == nil)
    }
}
