import LLMProxyCore
import Logging
import NIOCore

/// Everything the request path of one event loop reads and writes: the
/// current config snapshot, the round-robin positions, resolved routes and
/// the upstream pool. Only this loop touches it, so none of it takes a lock;
/// a reload reaches it as a task submitted to the loop.
final class LoopContext {
    let eventLoop: any EventLoop
    let pool: UpstreamConnectionPool
    /// The `mock` provider's answers, made in process.
    private let mockUpstream = InProcessMockUpstream()
    let logger: Logger
    let metrics: LoopMetrics
    let allocator = ByteBufferAllocator()
    let flushes: FlushCoalescer
    let liveObjects: LiveObjectCounts
    /// Shared by every loop of the process.
    let responseAffinity: ResponseAffinity
    /// This loop's connection to `shared_state`'s store; nil without one.
    private(set) var sharedState: RedisClient?
    /// Requests the store granted this loop ahead.
    var sharedLeases = SharedLease()
    private let sharedStateStatus: SharedStateStatus
    private let loopIndex: Int
    private let tls: TLSContextCache
    /// This loop's access-log lines; nil when the log level turns them off.
    let accessLog: AccessLogBuffer?
    /// This loop's spans; nil when tracing is off.
    let tracing: LoopTracing?
    private(set) var config: RuntimeConfig
    /// The rate limiter of each key of `config`, by key index.
    private(set) var limiters: [KeyRateLimiter?]
    /// The limiters of each key's `model_limits`, by key index and entry index.
    private(set) var modelLimiters: [[KeyRateLimiter]]
    /// Provider health as last published to this loop, by provider index.
    private(set) var providerUp: [Bool]
    /// The current token of each provider of `config` with `credentials`, by
    /// provider index, as last published to this loop.
    private(set) var credentials: [LoopCredential?]
    /// The pool key of each provider of `config` (nil: no endpoint, the
    /// mock), built once per config rather than per request.
    private var poolKeys: [UpstreamPoolKey?]
    private var balancers: [[Int]: RoundRobinState] = [:]
    private var routeCache: [String: RouteEntry] = [:]
    /// The route of calls that name a stored response: every enabled provider.
    private var storedResponseRoute: RouteEntry?
    private static let routeCacheLimit = 4096
    /// Live-traffic outcomes go to the shared health board (passive checks).
    private let healthReporter: (@Sendable (_ provider: String, _ failure: String?) -> Void)?
    /// Providers this loop last saw fail; a success is reported only for
    /// these, so healthy traffic never touches the shared board.
    private var failingProviders: Set<String> = []
    var requestIDs = RequestIDGenerator()
    private(set) var draining = false
    /// Requests between head and last response byte, for draining.
    private(set) var activeRequests = 0
    /// Open client connections, so draining can close the idle ones.
    private var clientConnections: [ObjectIdentifier: GatewayHandler] = [:]
    /// `server.request_timeout_seconds` of the exchanges in flight.
    let requestDeadlines: LoopDeadlines<ProxyExchange>
    /// `server.client_idle_timeout_seconds` of the client connections that
    /// are waiting on their client (between requests or mid-request).
    let idleDeadlines: LoopDeadlines<GatewayHandler>

    init(eventLoop: any EventLoop, config: RuntimeConfig, limiters: [KeyRateLimiter?], modelLimiters: [[KeyRateLimiter]] = [],
         tls: TLSContextCache, logger: Logger, metrics: GatewayMetrics, liveObjects: LiveObjectCounts,
         responseAffinity: ResponseAffinity = ResponseAffinity(), sharedStateStatus: SharedStateStatus = SharedStateStatus(), loopIndex: Int = 0,
         accessLog: (writer: AccessLogWriter, format: LogFormat)? = nil, tracing: TracingBackend? = nil,
         healthReporter: (@Sendable (String, String?) -> Void)?) {
        self.eventLoop = eventLoop
        self.liveObjects = liveObjects
        self.responseAffinity = responseAffinity
        self.sharedStateStatus = sharedStateStatus
        self.loopIndex = loopIndex
        self.tls = tls
        self.accessLog = accessLog.map { AccessLogBuffer(format: $0.format, writer: $0.writer, eventLoop: eventLoop) }
        self.tracing = tracing.map {
            LoopTracing(tracer: $0.tracer, sampleRatio: config.config.tracing?.sampleRatio ?? 0, handoff: $0.handoff, eventLoop: eventLoop)
        }
        self.config = config
        self.limiters = limiters
        self.modelLimiters = modelLimiters
        self.metrics = LoopMetrics(metrics: metrics)
        self.providerUp = Array(repeating: true, count: config.providers.count)
        self.credentials = Array(repeating: nil, count: config.providers.count)
        self.poolKeys = Self.poolKeys(of: config)
        self.flushes = FlushCoalescer(eventLoop: eventLoop)
        self.requestDeadlines = LoopDeadlines(eventLoop: eventLoop)
        self.idleDeadlines = LoopDeadlines(eventLoop: eventLoop)
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop, tls: tls, flushes: flushes, liveObjects: liveObjects)
        self.logger = logger
        self.healthReporter = healthReporter
        configureSharedState(config.config)
    }

    /// Connects to `shared_state`'s store, or keeps the connection when the
    /// store did not change (its timeout is read anew); a changed store gets
    /// a new connection, and the old one closes once its calls are answered.
    private func configureSharedState(_ config: GatewayConfig) {
        guard let shared = config.sharedState else {
            sharedState?.stop()
            sharedState = nil
            return
        }
        let timeout = TimeAmount.milliseconds(Int64(shared.timeoutMilliseconds))
        if let current = sharedState, current.url == shared.url {
            current.updateTimeout(timeout)
            return
        }
        sharedState?.stop()
        let client = RedisClient(
            url: shared.url, timeout: timeout, eventLoop: eventLoop, loopIndex: loopIndex, tls: tls, verifyTLS: config.verifySSL,
            flushes: flushes, status: sharedStateStatus, logger: logger)
        sharedState = client
        client.start()
    }

    /// Shutdown: the store's connection goes.
    func stopSharedState() {
        sharedState?.stop()
        sharedState = nil
    }

    func connectionOpened(_ handler: GatewayHandler) {
        clientConnections[ObjectIdentifier(handler)] = handler
    }

    func connectionClosed(_ handler: GatewayHandler) {
        clientConnections.removeValue(forKey: ObjectIdentifier(handler))
    }

    func requestStarted() { activeRequests += 1 }
    func requestFinished() { activeRequests -= 1 }

    /// Stop taking new requests on kept-alive connections: idle ones close
    /// now, busy ones after their response.
    func beginDraining() {
        draining = true
        for handler in clientConnections.values { handler.drain() }
    }

    /// Whatever is still open when the grace period ends.
    func closeAllConnections() {
        for handler in clientConnections.values { handler.closeNow() }
    }

    func install(
        _ newConfig: RuntimeConfig, limiters newLimiters: [KeyRateLimiter?], modelLimiters newModelLimiters: [[KeyRateLimiter]], providerUp up: [Bool],
        credentials newCredentials: [LoopCredential?]
    ) {
        config = newConfig
        limiters = newLimiters
        modelLimiters = newModelLimiters
        providerUp = up
        credentials = newCredentials
        // Where spans go is fixed at start; how many requests get them is not.
        tracing?.updateSampleRatio(newConfig.config.tracing?.sampleRatio ?? 0)
        poolKeys = Self.poolKeys(of: newConfig)
        balancers.removeAll()
        routeCache.removeAll()
        storedResponseRoute = nil
        configureSharedState(newConfig.config)
    }

    /// Where connections to provider `index` of `snapshot` are pooled; nil
    /// for a provider without an endpoint (the mock).
    func poolKey(provider index: Int, of snapshot: RuntimeConfig) -> UpstreamPoolKey? {
        if snapshot === config { return poolKeys[index] }
        // A request that started before a reload.
        return snapshot.providers[index].endpoint.map { UpstreamPoolKey(endpoint: $0, verifyTLS: snapshot.config.verifySSL) }
    }

    /// A transport to provider `index` that is ready now: an idle pooled
    /// connection (unless `fresh`), or the in-process mock, which needs none.
    /// Nil: connect with `connectUpstream`.
    func readyUpstream(provider index: Int, of snapshot: RuntimeConfig, fresh: Bool) -> (any UpstreamTransport)? {
        guard let key = poolKey(provider: index, of: snapshot) else { return mockUpstream }
        return fresh ? nil : pool.leaseIdle(key)
    }

    /// Opens a new connection to provider `index`; `completion` runs on this
    /// loop, also after the returned connect is cancelled (with a failure).
    func connectUpstream(
        provider index: Int, of snapshot: RuntimeConfig, connectTimeout: TimeAmount,
        _ completion: @escaping (Result<any UpstreamTransport, any Error>) -> Void
    ) -> PendingUpstreamConnect? {
        guard let key = poolKey(provider: index, of: snapshot) else {
            completion(.success(mockUpstream))
            return nil
        }
        return pool.connect(key, connectTimeout: connectTimeout) { result in completion(result.map { $0 }) }
    }

    private static func poolKeys(of config: RuntimeConfig) -> [UpstreamPoolKey?] {
        config.providers.map { provider in
            provider.endpoint.map { UpstreamPoolKey(endpoint: $0, verifyTLS: config.config.verifySSL) }
        }
    }

    /// A live request's outcome: nil is success, otherwise the failure.
    func reportOutcome(provider: String, failure: String?) {
        if let failure {
            failingProviders.insert(provider)
            healthReporter?(provider, failure)
        } else if failingProviders.remove(provider) != nil {
            healthReporter?(provider, nil)
        }
    }

    func updateHealth(_ up: [Bool], configVersion: Int) {
        guard configVersion == config.version else { return }
        providerUp = up
    }

    func updateCredentials(_ tokens: [LoopCredential?], configVersion: Int) {
        guard configVersion == config.version else { return }
        credentials = tokens
    }

    /// The `Authorization` value for provider `index` of `snapshot`, while
    /// its token may still be sent; nil otherwise. A request that started
    /// before a reload finds its provider in the new config by name.
    func authorization(provider index: Int, of snapshot: RuntimeConfig) -> String? {
        let credential: LoopCredential?
        if snapshot === config {
            credential = credentials[index]
        } else {
            let name = snapshot.providers[index].name
            credential = config.providers.firstIndex { $0.name == name && $0.credentials == snapshot.providers[index].credentials }.flatMap { credentials[$0] }
        }
        guard let credential, NIODeadline.now() < credential.usableUntil else { return nil }
        return credential.authorization
    }

    /// Resolves on `config`, memoised: regular-expression keys are matched
    /// once per distinct model name, not once per request, and the entry
    /// carries the model's metric handles.
    func resolve(_ model: String, in snapshot: RuntimeConfig) -> RouteEntry {
        guard snapshot === config else {
            return RouteEntry(model: model, route: snapshot.router.resolve(normalized: model), providerCount: snapshot.providers.count)
        }
        if let cached = routeCache[model] { return cached }
        let entry = RouteEntry(model: model, route: snapshot.router.resolve(normalized: model), providerCount: snapshot.providers.count)
        if routeCache.count >= Self.routeCacheLimit { routeCache.removeAll(keepingCapacity: true) }
        routeCache[model] = entry
        return entry
    }

    /// The route of a call naming a stored response: every enabled provider
    /// (the API's row filters them by type), its metrics under an empty `model`.
    func storedResponseEntry(in snapshot: RuntimeConfig) -> RouteEntry {
        if snapshot === config, let storedResponseRoute { return storedResponseRoute }
        let entry = RouteEntry(model: "", route: snapshot.router.everyEnabledProvider(), providerCount: snapshot.providers.count)
        if snapshot === config { storedResponseRoute = entry }
        return entry
    }

    /// The round-robin state of `route`'s provider set: one per set on this
    /// loop, shared by every model the same providers serve, as an nginx
    /// upstream block is shared by its locations.
    func balancer(for route: ModelRoute, snapshot: RuntimeConfig) -> RoundRobinState {
        let sameConfig = snapshot === config
        let key = route.providerSet
        if sameConfig, let existing = balancers[key] { return existing }
        let created = RoundRobinState(weights: route.candidates.map { snapshot.providers[$0.providerIndex].weight })
        if sameConfig { balancers[key] = created }
        return created
    }

    /// The next candidate (an index into `route.candidates`) by smooth
    /// weighted round-robin among the healthy untried ones; when every
    /// untried candidate is down, among all untried ones (fail open).
    func pickCandidate(_ route: ModelRoute, balancer: RoundRobinState, tried: [Bool], snapshot: RuntimeConfig) -> Int? {
        let candidates = route.candidates
        let up = snapshot === config ? providerUp : Array(repeating: true, count: snapshot.providers.count)
        if let pick = balancer.sequence.next(where: { !tried[$0] && up[candidates[$0].providerIndex] }) { return pick }
        guard let pick = balancer.sequence.next(where: { !tried[$0] }) else { return nil }
        logger.warning("every candidate provider is down; trying one anyway (fail open)",
                       metadata: ["provider": "\(snapshot.providers[candidates[pick].providerIndex].name)"])
        return pick
    }
}
