import LLMProxyCore
import NIOCore
import NIOHTTP1

/// The exchange as an upstream sees it: the request to send, and the
/// receiver of the response, part by part, on the event loop. A socket
/// connection (`UpstreamConnection`) and the in-process mock provider
/// (`InProcessMockUpstream`) both talk to it through this protocol only.
protocol UpstreamResponseDelegate: AnyObject {
    /// The request method (a HEAD answer has no body).
    var upstreamMethod: HTTPMethod { get }
    /// The request as HTTP/1.1 bytes for a provider at `host`.
    func encodeUpstreamRequest(host: String, allocator: ByteBufferAllocator) -> ByteBuffer
    /// The request for an upstream inside the gateway, which needs no bytes.
    var inProcessRequest: InProcessRequest { get }

    func upstreamResponseHead(_ head: HTTPResponseHead)
    func upstreamResponseBody(_ buffer: ByteBuffer)
    /// The response is complete; `reusable` says whether the connection may
    /// go back to the pool.
    func upstreamResponseEnd(reusable: Bool)
    /// A batch of reads is done: the moment to flush to the client.
    func upstreamReadComplete()
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ error: any Error)
    /// The connection can take more of a streamed upload's bytes, or cannot.
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// A request as an in-process upstream reads it.
struct InProcessRequest {
    var api: API
    var body: ByteBuffer
    var upstreamModel: String
    /// The stored response the call names, if any.
    var responseID: String?
}

/// What an exchange sends its request on: a pooled socket connection to a
/// provider, or the mock provider inside the gateway.
protocol UpstreamTransport: AnyObject {
    /// It carried earlier exchanges (a kept-alive connection), so a failure
    /// before any answer may only mean the provider closed it meanwhile.
    var isReused: Bool { get }
    /// Sends `delegate`'s request; the answer arrives through `delegate`,
    /// possibly before this returns.
    func send(to delegate: any UpstreamResponseDelegate)
    /// More of a streamed upload's body, framed already, after `send`.
    func writeBodyPart(_ buffer: ByteBuffer)
    /// It can take more bytes now.
    var isWritable: Bool { get }
    /// Stops (or resumes) reading while the client cannot take more bytes.
    func setReadPaused(_ paused: Bool)
    /// Closes without a callback; an exchange in progress is dropped.
    func abandon()
    /// The exchange is done with it: back to its pool when `reusable`.
    func release(reusable: Bool)
}

struct UpstreamConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the provider closed the connection" }
}
