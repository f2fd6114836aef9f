import LLMProxyCore
import NIOCore
import NIOHTTP1

/// The client side as an exchange sees it: where the answer goes. The
/// client connection handler is one; tests use another. The exchange never
/// reaches past this protocol into the handler.
protocol ResponseSink: AnyObject {
    /// The client can take more bytes now (backpressure).
    var isWritable: Bool { get }
    /// The response under way is an event stream.
    var isEventStreamResponse: Bool { get }
    /// Starts the response: status line, `headers` (written by the caller),
    /// the request's own headers and the framing for `contentLength` bytes
    /// (nil: not known yet).
    func writeResponseHead(status: HTTPResponseStatus, contentLength: Int?, isEventStream: Bool, headers: (inout ByteBuffer) -> Void)
    func writeResponseBody(_ buffer: ByteBuffer)
    /// Flushes after the loop's current batch of events.
    func flush()
    /// The response is complete.
    func finishResponse()
    /// A body that cannot be completed: closing is the only honest signal.
    func abortResponse()
    /// An error answer in the request's dialect.
    func sendError(_ error: OpenAIError)
    /// A streamed upload's provider stopped (or resumed) taking its bytes:
    /// stop (or resume) reading them from the client.
    func pauseUploadReads(_ paused: Bool)
    /// What the access log and metrics need of the upstream side.
    func noteUpstream(provider: String, retries: Int, usage: UsageObserver.Usage?, series: RequestSeries?)
}
