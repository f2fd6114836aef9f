import Foundation
import LLMProxyCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The gateway assembled: event loops, one `LoopContext` each, the HTTP
/// server, and the shared state. Start it in-process (tests do) or from
/// `llm-proxy serve`.
///
///     let gateway = try await Gateway.start(config: snapshot, logger: logger)
///     print(gateway.port)
///     await gateway.shutdown()
public final class Gateway: Sendable {
    public let state: GatewayState
    public let logger: Logger
    let group: MultiThreadedEventLoopGroup
    private let loops: [ObjectIdentifier: NIOLoopBound<LoopContext>]
    private let serverChannel: Mutex<(any Channel)?> = Mutex(nil)
    private let versions = Mutex(0)
    private let prober: HealthProber
    private let accessLogWriter: AccessLogWriter?
    private let proberTask = Mutex<Task<Void, Never>?>(nil)
    private let renewers: CredentialRenewers
    /// swift-otel's exporter, when tracing is on.
    private let tracing: TracingBackend?
    /// How long a start or a reload waits for new credentials' first tokens.
    static let firstTokenTimeout = Duration.seconds(10)

    /// Builds the gateway; `start()` binds it.
    public convenience init(config: RuntimeConfig, logger: Logger, state: GatewayState? = nil) throws {
        try self.init(config: config, logger: logger, state: state, accessLogSink: StandardErrorSink(), accessLogFormat: nil)
    }

    /// `accessLogSink`: where the access log goes (standard error; tests
    /// collect it), in `accessLogFormat` (nil: the config's `log_format`). It
    /// is written while `logger` logs at `info` or below, as before.
    package init(
        config: RuntimeConfig, logger: Logger, state: GatewayState? = nil, accessLogSink: any AccessLogSink, accessLogFormat: LogFormat?,
        accessLogPendingLimit: Int = AccessLogWriter.maximumPendingBytes
    ) throws {
        let state = state ?? GatewayState(config: config)
        self.state = state
        self.logger = logger
        let count = config.config.server.eventLoops > 0 ? config.config.server.eventLoops : ProcessCPUs.count
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        let tls = TLSContextCache()
        let health = state.health
        var loops: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        let limiters = state.rateLimiters.limiters(for: config.config.masterKeys)
        let modelLimiters = state.rateLimiters.modelLimiters(for: config.config.masterKeys)
        let metrics = state.metrics
        let liveObjects = state.liveObjects
        state.sharedState.configure(url: config.config.sharedState?.url.description)
        let writer = logger.logLevel <= .info ? AccessLogWriter(sink: accessLogSink, dropped: metrics.droppedLogLines, maximumPendingBytes: accessLogPendingLimit) : nil
        accessLogWriter = writer
        let accessLog = writer.map { (writer: $0, format: accessLogFormat ?? config.config.logFormat ?? .text) }
        let tracing = try config.config.tracing.map { tracingConfig in
            try TracingBackend(config: tracingConfig, logger: logger) { dropped in metrics.droppedSpans.increment(by: Int64(dropped)) }
        }
        self.tracing = tracing
        for (loopIndex, loop) in group.makeIterator().enumerated() {
            loops[ObjectIdentifier(loop)] = try loop.submit {
                let reporter: @Sendable (String, String?) -> Void = { provider, failure in
                    health.record(failure.map { .liveFailed($0) } ?? .liveSucceeded, for: provider)
                }
                let context = LoopContext(
                    eventLoop: loop, config: config, limiters: limiters, modelLimiters: modelLimiters, tls: tls, logger: logger, metrics: metrics, liveObjects: liveObjects,
                    responseAffinity: state.responseAffinity, sharedStateStatus: state.sharedState, loopIndex: loopIndex, accessLog: accessLog,
                    tracing: tracing, healthReporter: reporter)
                return NIOLoopBound(context, eventLoop: loop)
            }.wait()
        }
        self.loops = loops
        let client = OneShotHTTPClient(group: group, tls: tls, liveObjects: liveObjects)
        let renewers = CredentialRenewers { provider, credentials, verifyTLS, onChange in
            CredentialRenewer(
                provider: provider, credentials: credentials, client: client, verifyTLS: verifyTLS, status: state.credentials, metrics: metrics,
                logger: logger, onChange: onChange)
        }
        self.renewers = renewers
        prober = HealthProber(state: state, client: client, tokens: renewers, logger: logger)
        versions.withLock { $0 = config.version }
        let bound = loops
        renewers.setOnPublish { renewer in
            let snapshot = state.config
            let tokens = renewers.tokens(for: snapshot.providers)
            for context in bound.values {
                context.eventLoop.execute { context.value.updateCredentials(tokens, configVersion: snapshot.version) }
            }
            health.setHasCredential(renewer.current != nil, for: renewer.provider)
        }
        health.setOnChange { [logger] provider, isUp in
            logger.warning(isUp ? "provider is up" : "provider is down", metadata: ["provider": "\(provider)"])
            let snapshot = state.config
            let bits = health.upBits(for: snapshot.providers)
            for context in bound.values {
                context.eventLoop.execute { context.value.updateHealth(bits, configVersion: snapshot.version) }
            }
        }
    }

    /// Binds the server; the bound port is in `port` afterwards.
    public func start() async throws {
        let snapshot = state.config
        // The first tokens before the first request (each waited for at
        // most `firstTokenTimeout`; one that fails leaves its provider down).
        await renewers.prepare(snapshot, timeout: Self.firstTokenTimeout)
        installCredentials(snapshot)
        let bits = state.health.upBits(for: snapshot.providers)
        let tokens = renewers.tokens(for: snapshot.providers)
        for context in loops.values {
            try await context.eventLoop.submit {
                context.value.updateHealth(bits, configVersion: snapshot.version)
                context.value.updateCredentials(tokens, configVersion: snapshot.version)
            }.get()
        }
        let loops = self.loops
        let state = self.state
        let host = snapshot.config.server.host
        let port = snapshot.config.server.port
        // An IP literal (the usual `0.0.0.0` or `127.0.0.1`) is bound as it
        // is: NIO's `bind(host:port:)` asks `getaddrinfo`, whose netlink
        // dump of the host's addresses lies on the way to the listener.
        let literal = SocketAddress.ipLiteral(host, port: port)
        let bootstrap = ServerBootstrap(group: group)
            // Bursts of thousands of connects (streams opening at once) queue, not drop.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator.gatewayConnection)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let context = loops[ObjectIdentifier(channel.eventLoop)]?.value else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    let sync = channel.pipeline.syncOperations
                    // Requests are parsed by NIO's HTTP/1.1 decoder. GatewayHandler
                    // writes responses as bytes (ClientResponseWriter), orders
                    // pipelined requests and answers parse errors itself, in
                    // place of NIO's encoder, pipelining and protocol-error
                    // handlers (see README, "Performance").
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(GatewayHandler(loop: context, gateway: state))
                }
            }
        let bound = if let literal { bootstrap.bind(to: literal) } else { bootstrap.bind(host: host, port: port) }
        let channel = try await bound.get()
        serverChannel.withLock { $0 = channel }
        let prober = self.prober
        proberTask.withLock { $0 = Task { await prober.run() } }
        tracing?.start()
        logger.info("llm-proxy listening", metadata: [
            "address": "\(snapshot.config.server.host):\(channel.localAddress?.port ?? 0)",
            "event_loops": "\(loops.count)", "providers": "\(snapshot.providers.count)",
        ])
        if snapshot.keys.isOpen {
            logger.warning("no master_keys configured: the gateway is open to anyone who can reach it")
        }
    }

    public var port: Int { serverChannel.withLock { $0?.localAddress?.port ?? 0 } }

    /// New or changed `credentials` get their first token before the
    /// config is installed (see `install`), so no request finds its
    /// provider waiting for one.
    public func prepare(_ config: RuntimeConfig) async {
        await renewers.prepare(config, timeout: Self.firstTokenTimeout)
    }

    /// Swaps in a new config: new requests use it, requests in flight keep
    /// the snapshot they started with.
    public func install(_ config: RuntimeConfig) {
        state.replaceConfig(config)
        state.sharedState.configure(url: config.config.sharedState?.url.description)
        installCredentials(config)
        let bits = state.health.upBits(for: config.providers)
        let tokens = renewers.tokens(for: config.providers)
        let limiters = state.rateLimiters.limiters(for: config.config.masterKeys)
        let modelLimiters = state.rateLimiters.modelLimiters(for: config.config.masterKeys)
        for context in loops.values {
            context.eventLoop.execute {
                context.value.install(config, limiters: limiters, modelLimiters: modelLimiters, providerUp: bits, credentials: tokens)
            }
        }
        if config.keys.isOpen {
            logger.warning("no master_keys configured: the gateway is open to anyone who can reach it")
        }
    }

    /// Makes `config`'s renewers current and each provider's health say
    /// whether it holds a token.
    private func installCredentials(_ config: RuntimeConfig) {
        let current = renewers.install(config)
        state.credentials.keep(Set(current.keys))
        for provider in config.providers where provider.credentials != nil {
            state.health.setHasCredential(current[provider.name]?.current != nil, for: provider.name)
        }
    }

    /// The next config version number.
    public func nextVersion() -> Int { versions.withLock { $0 += 1; return $0 } }

    /// Stops accepting, lets in-flight requests (streams too) finish for up
    /// to `drainTimeout`, then closes whatever is left and stops the loops.
    public func shutdown(drainTimeout: Duration = .seconds(0)) async {
        proberTask.withLock { $0?.cancel() }
        renewers.stopAll()
        let channel = serverChannel.withLock { $0 }
        try? await channel?.close().get()
        for context in loops.values {
            context.eventLoop.execute { context.value.beginDraining() }
        }
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline, await activeRequests() > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for context in loops.values {
            try? await context.eventLoop.submit {
                context.value.closeAllConnections()
                context.value.pool.closeIdle()
                context.value.stopSharedState()
                context.value.accessLog?.stop()
                context.value.tracing?.flush()
            }.get()
        }
        // The drain's spans are exported before the process exits.
        await tracing?.shutdown(timeout: .seconds(2))
        // Every line of the drain is written before the process exits.
        await accessLogWriter?.shutdown(timeout: .seconds(2))
        try? await group.shutdownGracefully()
    }

    /// Requests in flight on every loop.
    public func activeRequests() async -> Int {
        var total = 0
        for context in loops.values {
            total += (try? await context.eventLoop.submit { context.value.activeRequests }.get()) ?? 0
        }
        return total
    }
}
