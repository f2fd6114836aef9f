import LLMProxyCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One-shot GET requests for health probes. Probes are rare (one per
/// provider per interval), so each uses its own short-lived connection and
/// never disturbs the request path's pools.
struct HealthProbeClient: Sendable {
    let group: any EventLoopGroup
    let tls: TLSContextCache
    let liveObjects: LiveObjectCounts

    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    struct ProbeError: Error, CustomStringConvertible {
        var description: String
    }

    func get(endpoint: UpstreamEndpoint, plan: UpstreamRequestPlan, verifyTLS: Bool, timeout: TimeAmount) async throws -> Response {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: Response.self)
        let liveObjects = self.liveObjects
        let bootstrap: ClientBootstrap
        do {
            bootstrap = try ProviderBootstrap.make(
                eventLoop: eventLoop, endpoint: endpoint, verifyTLS: verifyTLS, tls: tls, connectTimeout: timeout
            ) { _, sync in
                try sync.addHTTPClientHandlers()
                try sync.addHandler(ProbeResponseHandler(promise: promise, liveObjects: liveObjects))
            }
        } catch {
            promise.fail(error)
            throw error
        }
        let connecting = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        let channel: any Channel
        do {
            channel = try await connecting.get()
        } catch {
            promise.fail(error)
            throw error
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.hostHeader)
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Connection", value: "close")
        for header in plan.headers { headers.add(name: header.name, value: header.value) }
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: plan.target, headers: headers)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(ProbeError(description: "no answer within the probe timeout"))
        }
        defer {
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

private final class ProbeResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<HealthProbeClient.Response>
    var status = 0
    var body: [UInt8] = []
    /// /models listings are small; a probe never holds more than this.
    static let maximumBody = 4 * 1024 * 1024

    private let liveObjects: LiveObjectCounts

    init(promise: EventLoopPromise<HealthProbeClient.Response>, liveObjects: LiveObjectCounts) {
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
        promise.fail(HealthProbeClient.ProbeError(description: "the provider closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
