import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A request as the mock upstream received it.
package struct RecordedRequest: Sendable {
    package var method: String
    package var uri: String
    package var headers: [(String, String)]
    package var body: [UInt8]
    package var connectionID: Int

    package func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    package var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What the mock upstream does with a request.
package enum UpstreamBehavior: Sendable {
    case respond(status: Int, headers: [(String, String)], body: String)
    /// SSE chunks, `interval` apart; `cut` closes the connection instead of ending the response.
    case stream(chunks: [String], interval: Duration, cut: Bool)
    /// Never answers.
    case hang
    /// Sends a head and then closes (a response cut after its head).
    case headThenClose(status: Int)
    /// Sends these bytes as they are (a head cut in the middle, a body cut
    /// short), then closes; `reset` closes with a TCP RST instead of a FIN.
    case rawThenClose(String, reset: Bool)

    package static func json(_ body: String, status: Int = 200) -> UpstreamBehavior {
        .respond(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    package static let okChat = json(#"{"id":"up-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#)
}

/// An HTTP/1.1 server on 127.0.0.1 with an ephemeral port that records every
/// request and answers as the test scripts it.
package final class MockUpstream: Sendable {
    package let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let state: UpstreamRecorder

    package var port: Int { channel.localAddress!.port! }
    private let usesTLS: Bool
    package var baseURL: String { "\(usesTLS ? "https" : "http")://127.0.0.1:\(port)" }

    package var requests: [RecordedRequest] { state.counters.withLock { $0.requests } }
    package var connectionsOpened: Int { state.counters.withLock { $0.connectionsOpened } }
    package var connectionsClosed: Int { state.counters.withLock { $0.connectionsClosed } }
    package var connectionsOpen: Int { state.counters.withLock { $0.connectionsOpened - $0.connectionsClosed } }
    /// Connections the gateway closed while a response was still owed or in progress.
    package var closedWhileBusy: Int { state.counters.withLock { $0.closedWhileBusy } }

    /// `tls`: serve HTTPS with this context (a self-signed certificate in tests).
    package init(tls: NIOSSLContext? = nil, _ behavior: @escaping @Sendable (RecordedRequest) -> UpstreamBehavior = { _ in .okChat }) async throws {
        usesTLS = tls != nil
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = UpstreamRecorder(behavior)
        self.group = group
        self.state = state
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let id = state.nextConnectionID()
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        MockUpstreamHandler(connectionID: id, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    package func setBehavior(_ behavior: @escaping @Sendable (RecordedRequest) -> UpstreamBehavior) {
        state.behavior.withLock { $0 = behavior }
    }

    package func stop() async {
        try? await channel.close().get()
        try? await group.shutdownGracefully()
    }
}

package final class UpstreamRecorder: Sendable {
    package let counters = Mutex<(requests: [RecordedRequest], connectionsOpened: Int, connectionsClosed: Int, closedWhileBusy: Int)>(([], 0, 0, 0))
    package let behavior: Mutex<@Sendable (RecordedRequest) -> UpstreamBehavior>
    private let ids = Mutex(0)

    package init(_ behavior: @escaping @Sendable (RecordedRequest) -> UpstreamBehavior) {
        self.behavior = Mutex(behavior)
    }

    package func nextConnectionID() -> Int { ids.withLock { $0 += 1; return $0 } }
}

private final class MockUpstreamHandler: ChannelInboundHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundOut = HTTPServerResponsePart

    package let connectionID: Int
    package let state: UpstreamRecorder
    package var head: HTTPRequestHead?
    package var body: [UInt8] = []
    package var busy = false

    package init(connectionID: Int, state: UpstreamRecorder) {
        self.connectionID = connectionID
        self.state = state
    }

    package func channelActive(context: ChannelHandlerContext) {
        state.counters.withLock { $0.connectionsOpened += 1 }
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        let busy = self.busy
        state.counters.withLock {
            $0.connectionsClosed += 1
            if busy { $0.closedWhileBusy += 1 }
        }
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body += buffer.readableBytesView
        case .end:
            guard let head else { return }
            let request = RecordedRequest(
                method: "\(head.method)", uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body,
                connectionID: connectionID)
            state.counters.withLock { $0.requests.append(request) }
            let action = state.behavior.withLock { $0 }(request)
            busy = true
            perform(action, context: context)
        }
    }

    private func perform(_ action: UpstreamBehavior, context: ChannelHandlerContext) {
        switch action {
        case .respond(let status, let headers, let body):
            var responseHeaders = HTTPHeaders(headers)
            responseHeaders.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            busy = false
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .stream(let chunks, let interval, let cut):
            let headers = HTTPHeaders([("Content-Type", "text/event-stream")])
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            sendChunks(chunks[...], interval: interval, cut: cut, context: context)
        case .hang:
            break
        case .headThenClose(let status):
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: ["Content-Length": "100"]))), promise: nil)
            context.close(promise: nil)
        case .rawThenClose(let bytes, let reset):
            // Written below the HTTP encoder, so the bytes go out unframed.
            let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
            encoder?.writeAndFlush(NIOAny(ByteBuffer(string: bytes)), promise: nil)
            if reset {
                // SO_LINGER with a zero timeout: close sends RST, as a crashed or overloaded peer does.
                _ = (context.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
            }
            context.close(promise: nil)
        }
    }

    private func sendChunks(_ chunks: ArraySlice<String>, interval: Duration, cut: Bool, context: ChannelHandlerContext) {
        guard let first = chunks.first else {
            if cut {
                context.close(promise: nil)
            } else {
                busy = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: first)))), promise: nil)
        let rest = chunks.dropFirst()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let nanos = interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000
        context.eventLoop.scheduleTask(in: .nanoseconds(nanos)) {
            let (handler, context) = bound.value
            guard context.channel.isActive else { return }
            handler.sendChunks(rest, interval: interval, cut: cut, context: context)
        }
    }
}
