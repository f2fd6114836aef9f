import LLMProxyCore
import NIOCore
import NIOHTTP1

/// The `mock` provider as an upstream: it answers inside the gateway, with
/// no network, through the same `UpstreamResponseDelegate` calls a socket
/// connection makes, so the exchange treats it like any provider (usage is
/// read from its output, its streams are checked for `[DONE]`). Stateless:
/// one per loop serves every exchange, each answer delivered whole within
/// `send`.
final class InProcessMockUpstream: UpstreamTransport {
    var isReused: Bool { false }

    func send(to delegate: any UpstreamResponseDelegate) {
        let request = delegate.inProcessRequest
        let response = MockProvider.respond(to: request.api, body: request.body, upstreamModel: request.upstreamModel, responseID: request.responseID)
        let isEventStream = response.contentType == "text/event-stream"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        if !isEventStream { headers.add(name: "Content-Length", value: String(response.chunks.reduce(0) { $0 + $1.utf8.count })) }
        delegate.upstreamResponseHead(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers))
        for chunk in response.chunks {
            delegate.upstreamResponseBody(ByteBuffer(string: chunk))
            // Each event of a stream is flushed on its own, as a provider's would arrive.
            if isEventStream { delegate.upstreamReadComplete() }
        }
        delegate.upstreamResponseEnd(reusable: true)
    }

    /// The mock serves no upload API (the API table says so).
    func writeBodyPart(_ buffer: ByteBuffer) {}
    var isWritable: Bool { true }
    func setReadPaused(_ paused: Bool) {}
    func abandon() {}
    func release(reusable: Bool) {}
}
