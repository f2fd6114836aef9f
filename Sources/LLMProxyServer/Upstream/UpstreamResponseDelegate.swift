import LLMProxyCore
import NIOCore
import NIOHTTP1

/// Receives one upstream response, part by part, on the event loop.
protocol UpstreamResponseDelegate: AnyObject {
    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    /// The response is complete; `reusable` says whether the connection may
    /// go back to the pool.
    func upstreamResponseEnd(connection: UpstreamConnection, reusable: Bool)
    /// A batch of reads is done: the moment to flush to the client.
    func upstreamReadComplete()
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: any Error)
}

struct UpstreamConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the provider closed the connection" }
}
