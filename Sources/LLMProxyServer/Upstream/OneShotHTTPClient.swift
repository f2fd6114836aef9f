import LLMProxyCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One request per connection, for the control plane: health probes (one
/// per provider per interval) and token renewals (one per token lifetime).
/// Each uses its own short-lived connection and never disturbs the request
/// path's pools.
struct OneShotHTTPClient: Sendable {
    let group: any EventLoopGroup
    let tls: TLSContextCache
    let liveObjects: LiveObjectCounts

    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    struct RequestError: Error, CustomStringConvertible {
        var description: String
    }

    /// A probe: `GET` with the plan's target and headers.
    func get(endpoint: UpstreamEndpoint, plan: UpstreamRequestPlan, verifyTLS: Bool, timeout: TimeAmount) async throws -> Response {
        try await send(
            method: .GET, endpoint: endpoint, target: plan.target, headers: plan.headers.map { ($0.name, $0.value) }, body: [],
            verifyTLS: verifyTLS, timeout: timeout)
    }

    /// `timeout` bounds the connect and, separately, the wait for the whole answer.
    func send(
        method: HTTPMethod, endpoint: UpstreamEndpoint, target: String, headers extra: [(name: String, value: String)], body: [UInt8],
        verifyTLS: Bool, timeout: TimeAmount
    ) async throws -> Response {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: Response.self)
        let liveObjects = self.liveObjects
        let bootstrap: ClientBootstrap
        do {
            bootstrap = try ProviderBootstrap.make(
                eventLoop: eventLoop, endpoint: endpoint, verifyTLS: verifyTLS, tls: tls, connectTimeout: timeout
            ) { _, sync in
                try sync.addHTTPClientHandlers()
                try sync.addHandler(OneShotResponseHandler(promise: promise, liveObjects: liveObjects))
            }
        } catch {
            promise.fail(error)
            throw error
        }
        // Everything after the connect runs on the loop, the clean-up too:
        // done after the await, a gateway shutting down its loops meanwhile
        // would have it scheduled on a loop that is gone.
        let headers = Self.headers(endpoint: endpoint, method: method, extra: extra, bodyCount: body.count)
        let answered = bootstrap.connect(host: endpoint.host, port: endpoint.port).flatMap { channel -> EventLoopFuture<Response> in
            channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)), promise: nil)
            if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            let timer = eventLoop.scheduleTask(in: timeout) {
                promise.fail(RequestError(description: "no answer within \(timeout.nanoseconds / 1_000_000) ms"))
            }
            promise.futureResult.whenComplete { _ in
                timer.cancel()
                channel.close(promise: nil)
            }
            return promise.futureResult
        }
        answered.whenFailure { promise.fail($0) }
        return try await answered.get()
    }

    private static func headers(endpoint: UpstreamEndpoint, method: HTTPMethod, extra: [(name: String, value: String)], bodyCount: Int) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.hostHeader)
        headers.add(name: "Connection", value: "close")
        if !extra.contains(where: { $0.name.lowercased() == "accept" }) { headers.add(name: "Accept", value: "application/json") }
        for header in extra { headers.add(name: header.name, value: header.value) }
        if method != .GET { headers.add(name: "Content-Length", value: String(bodyCount)) }
        return headers
    }
}

private final class OneShotResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<OneShotHTTPClient.Response>
    var status = 0
    var body: [UInt8] = []
    /// /models listings and token answers are small; never more than this is held.
    static let maximumBody = 4 * 1024 * 1024

    private let liveObjects: LiveObjectCounts

    init(promise: EventLoopPromise<OneShotHTTPClient.Response>, liveObjects: LiveObjectCounts) {
        self.promise = promise
        self.liveObjects = liveObjects
        liveObjects.created(.probeConnection)
    }

    deinit {
        liveObjects.destroyed(.probeConnection)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(let buffer): if body.count < Self.maximumBody { body += buffer.readableBytesView }
        case .end: promise.succeed(.init(status: status, body: body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(OneShotHTTPClient.RequestError(description: "the server closed the connection before answering"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
