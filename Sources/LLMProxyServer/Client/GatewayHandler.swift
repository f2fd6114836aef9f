import LLMProxyCore
import Logging
import NIOCore
import NIOHTTP1

/// One client connection: reads a request, decides everything that needs no
/// network (route, key, body limit, model, permission), then hands the
/// request to a `ProxyExchange` and writes what it relays. Runs entirely on
/// the connection's event loop.
///
/// Pipelining: NIO's pipelining assistance stops and restarts reading around
/// every response (two `epoll_ctl` calls per request, ~5 µs). This handler
/// instead reads freely and only when a client really sends a request before
/// the previous answer is done does it queue that request and stop reading
/// until the answer is out, so answers keep their order and memory stays bounded.
final class GatewayHandler: ChannelDuplexHandler, RemovableChannelHandler, DeadlineOwner, ResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        /// Reading the request in `incoming`.
        case receiving
        /// The answer is decided; the rest of the body is read and dropped.
        case discarding(OpenAIError)
        case exchanging(ProxyExchange)
        /// A response is being written by something other than an exchange.
        case responding
    }

    struct IncomingRequest {
        var head: HTTPRequestHead
        var route: GatewayRoute
        var path: Substring
        var query: Substring?
        var snapshot: RuntimeConfig
        var keyIndex: Int?
        var limiter: KeyRateLimiter?
        var body: ByteBuffer
    }

    private let loop: LoopContext
    private let gateway: GatewayState
    private var context: ChannelHandlerContext?
    private var state = State.idle
    /// The request being read, outside `state` so its body grows in place
    /// and it leaves for the exchange without a copy (taking an enum
    /// payload out copies it: a retain and release per field).
    private var incoming: IncomingRequest?
    private(set) var keepAlive = true
    private(set) var isEventStreamResponse = false
    private var responseStarted = false
    private var writer = ClientResponseWriter()
    private var requestVersion = HTTPVersion.http1_1
    private var requestIsHEAD = false
    /// The error dialect of the current request's API.
    private var dialect = ErrorDialect.openAI
    private var requestInFlight = false
    /// The access-log and metrics record of the request in flight.
    private var record: RequestRecord?
    /// The key's request limit and what is left of it, which every response
    /// to the current request reports (as it does its request id, from `record`).
    private var rateLimitHeaders: (limit: Int, remaining: Int)?
    /// False once the gateway drains: every response then closes its connection.
    private var keepAliveAllowed = true
    /// Parts of a pipelined request that arrived while a response was in progress.
    /// Small at first: most clients never pipeline, and 10,000 open
    /// connections would otherwise hold 16 empty slots each.
    private var queued = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 2)
    private var readsHeld = false
    private var readPending = false
    /// Armed while the connection waits on its client (see `awaitClient`).
    private var idleSlot: LoopDeadlines<GatewayHandler>.Slot?

    init(loop: LoopContext, gateway: GatewayState) {
        self.loop = loop
        self.gateway = gateway
        loop.liveObjects.created(.clientConnection)
    }

    deinit {
        loop.liveObjects.destroyed(.clientConnection)
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loop.connectionOpened(self)
        awaitClient()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopAwaitingClient()
        requestDone(clientGone: record != nil)
        loop.connectionClosed(self)
        self.context = nil
    }

    /// Draining: an idle connection closes now; a busy one after its response.
    func drain() {
        keepAliveAllowed = false
        if case .idle = state, !requestInFlight { context?.close(promise: nil) }
    }

    func closeNow() {
        context?.close(promise: nil)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if isAnswering || !queued.isEmpty {
            queued.append(part)
            readsHeld = true
            return
        }
        process(part)
    }

    /// A response is being produced for the current request.
    private var isAnswering: Bool {
        switch state {
        case .exchanging, .responding: return true
        case .idle, .receiving, .discarding: return false
        }
    }

    func read(context: ChannelHandlerContext) {
        if readsHeld {
            readPending = true
        } else {
            context.read()
        }
    }

    /// After a response: serve what was pipelined behind it, then read again.
    private func resumeQueued() {
        guard readsHeld || !queued.isEmpty, let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        // Deferred, so the next request never starts inside the previous one's callbacks.
        context.eventLoop.execute {
            let handler = bound.value
            while !handler.queued.isEmpty && !handler.isAnswering {
                handler.process(handler.queued.removeFirst())
            }
            if handler.queued.isEmpty && handler.readsHeld {
                handler.readsHeld = false
                if handler.readPending {
                    handler.readPending = false
                    handler.context?.read()
                }
            }
        }
    }

    private func process(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            begin(head)
        case .body(var part):
            guard case .receiving = state, incoming != nil else { return }
            let limit = incoming!.snapshot.config.server.maxBodyBytes
            if incoming!.body.readableBytes + part.readableBytes > limit {
                // Answer now and close: reading the rest would be buffering it.
                incoming = nil
                keepAlive = false
                state = .responding
                sendError(.requestTooLarge(limit: limit))
                return
            }
            if incoming!.body.readableBytes == 0 {
                // Most bodies arrive in one read: keep that slice, no copy.
                incoming!.body = part
            } else {
                incoming!.body.writeBuffer(&part)
            }
        case .end:
            switch state {
            case .receiving:
                state = .responding
                // `incoming` is set whenever the state is `.receiving`; were it
                // not, closing beats a connection left waiting for nothing.
                guard let request = incoming.take() else { return abortResponse() }
                handle(request)
            case .discarding(let error):
                state = .responding
                sendError(error)
            default:
                break
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .exchanging(let exchange) = state { exchange.cancel() }
        requestDone(clientGone: record != nil)
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .exchanging(let exchange) = state { exchange.clientWritabilityChanged(isWritable: context.channel.isWritable) }
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if isAnswering { stopAwaitingClient() } else { awaitClient() }
        context.fireChannelReadComplete()
    }

    // MARK: - Client idle timeout

    /// Restarts the wait for the client: a keep-alive connection with nothing
    /// to do, or a request that stalls, gets `client_idle_timeout_seconds`
    /// from its last read (nginx's `keepalive_timeout` and
    /// `client_body_timeout`). Not armed while the gateway answers: a stream
    /// may run for minutes without the client sending a byte.
    ///
    /// One loop-wide timer (`LoopDeadlines`) instead of NIO's
    /// `IdleStateHandler`, whose handler, scheduled task and pipeline hop
    /// per event cost every connection, including 10,000 held streams.
    private func awaitClient() {
        if let idleSlot { loop.idleDeadlines.remove(idleSlot) }
        let timeout = TimeAmount(seconds: loop.config.config.server.clientIdleTimeoutSeconds)
        idleSlot = loop.idleDeadlines.add(self, at: .now() + timeout)
    }

    private func stopAwaitingClient() {
        if let idleSlot { loop.idleDeadlines.remove(idleSlot) }
        idleSlot = nil
    }

    func deadlinePassed() {
        idleSlot = nil
        switch state {
        case .idle:
            // A keep-alive connection with nothing to do, or a client
            // that never finished its request head.
            context?.close(promise: nil)
        case .receiving, .discarding:
            incoming = nil
            keepAlive = false
            state = .responding
            sendError(.requestTimeout())
        case .exchanging, .responding:
            // Waiting on the provider, not on the client.
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError, !responseStarted, !isAnswering {
            // NIO's parser refused the bytes (and reads no more of them): say
            // so before closing, in OpenAI's shape, as long as no answer is
            // under way. Pipelined garbage behind a request only closes the
            // connection after that request's answer.
            keepAlive = false
            state = .responding
            sendError(.invalidRequest("The request is not valid HTTP/1.1: \(error).", param: nil))
            return
        }
        loop.logger.debug("client connection error", metadata: ["error": "\(error)"])
        keepAlive = false
        if !isAnswering { context.close(promise: nil) }
    }

    // MARK: - Request decisions

    private func begin(_ head: HTTPRequestHead) {
        keepAlive = head.isKeepAlive && keepAliveAllowed && !loop.draining
        if !requestInFlight {
            requestInFlight = true
            loop.requestStarted()
        }
        responseStarted = false
        isEventStreamResponse = false
        requestVersion = head.version
        requestIsHEAD = head.method == .HEAD
        let snapshot = loop.config
        let facts = RequestHeadFacts(head.headers)
        let (route, path, query) = GatewayRoute.match(method: head.method, uri: head.uri)
        dialect = route.dialect(path: path)
        // Built in place: a local record assigned here was copied (a retain
        // and release per string).
        record = RequestRecord(
            requestID: RequestRecord.requestID(from: facts.requestID, generator: &loop.requestIDs), method: head.method.rawValue, path: String(path))
        record!.endpoint = route.metricsEndpoint
        record!.isAPI = route.isAPI
        rateLimitHeaders = nil
        if route.isAPI { loop.metrics.requestStarted() }
        incoming = IncomingRequest(
            head: head, route: route, path: path, query: query, snapshot: snapshot, keyIndex: nil, limiter: nil, body: .sharedEmpty)
        if let error = admissionError(&incoming!, facts) {
            incoming = nil
            state = .discarding(error)
            return
        }
        if facts.expectsContinue {
            context?.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        }
        state = .receiving
    }

    /// What can be refused from the head alone.
    private func admissionError(_ request: inout IncomingRequest, _ facts: RequestHeadFacts) -> OpenAIError? {
        switch request.route {
        case .notFound: return .notFound(path: String(request.path))
        case .methodNotAllowed: return .methodNotAllowed(method: request.head.method.rawValue, path: String(request.path))
        case .health, .ready, .metrics: return nil
        case .proxy, .listModels, .detailedHealth: break
        }
        let keys = request.snapshot.keys
        if !keys.isOpen {
            guard let presented = ClientCredential.find(facts, query: request.query) else {
                return .invalidAPIKey(presented: false)
            }
            guard let index = keys.lookup(presented.utf8) else { return .invalidAPIKey(presented: true) }
            request.keyIndex = index
            record?.keyName = keys.keys[index].name
            if request.snapshot === loop.config { request.limiter = loop.limiters[index] }
        }
        if case .proxy = request.route {
            let limit = request.snapshot.config.server.maxBodyBytes
            if let length = facts.contentLength.flatMap({ Int($0) }), length > limit {
                keepAlive = false
                return .requestTooLarge(limit: limit)
            }
        }
        return nil
    }

    private func handle(_ request: consuming IncomingRequest) {
        switch request.route {
        case .proxy(let api, let pathModel):
            startExchange(request, api: api, pathModel: pathModel)
        case .listModels:
            sendJSON(ControlEndpoints.modelList(snapshot: request.snapshot, keyIndex: request.keyIndex, gateway: gateway))
        case .health:
            sendJSON("{\"status\":\"ok\"}")
        case .ready:
            let (ready, body) = ControlEndpoints.readiness(snapshot: request.snapshot, gateway: gateway, draining: loop.draining)
            sendJSON(body, status: ready ? .ok : .serviceUnavailable)
        case .detailedHealth:
            sendJSON(ControlEndpoints.detailedHealth(snapshot: request.snapshot, gateway: gateway))
        case .metrics:
            sendText(gateway.metricsText(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case .notFound, .methodNotAllowed:
            break
        }
    }

    private func startExchange(_ request: consuming IncomingRequest, api: API, pathModel: String?) {
        let snapshot = request.snapshot
        if let limiter = request.limiter {
            let limit = Int(limiter.limits.burstSize)
            switch limiter.admit() {
            case .allowed(let remaining):
                rateLimitHeaders = (limit, remaining)
            case .refused(let retryAfter, let reason):
                rateLimitHeaders = (limit, 0)
                loop.metrics.rateLimited(keyName: limiter.keyName)
                sendError(.rateLimited(keyName: limiter.keyName, retryAfter: retryAfter, reason: reason))
                return
            }
        }
        var field: ModelFieldScanner.Field? = nil
        let requestedModel: String
        do throws(ModelFieldScanner.Failure) {
            field = try request.body.withUnsafeReadableBytes { bytes throws(ModelFieldScanner.Failure) in
                try ModelFieldScanner.scan(bytes)
            }
        } catch {
            sendError(.invalidRequest(error.message, param: error.param))
            return
        }
        if let pathModel {
            requestedModel = pathModel
        } else if let field {
            requestedModel = field.model
        } else {
            sendError(.invalidRequest("'model' is required.", param: "model"))
            return
        }
        let model = snapshot.router.normalize(requestedModel)
        record?.model = "unresolved"
        if let keyIndex = request.keyIndex, !snapshot.keys.keys[keyIndex].allows(model: model) {
            sendError(.modelNotAllowed(model))
            return
        }
        let routeEntry = loop.resolve(model, in: snapshot)
        guard var route = routeEntry.route else {
            sendError(.modelNotFound(model))
            return
        }
        var routeIsEntryRoute = true
        let row = api.row
        if row.providerTypes != nil, route.candidates.contains(where: { !row.isServed(by: snapshot.providers[$0.providerIndex].type) }) {
            // Only some provider types serve this API (Google's native API:
            // gemini providers); the candidates are a filtered copy.
            routeIsEntryRoute = false
            route.candidates.removeAll { !row.isServed(by: snapshot.providers[$0.providerIndex].type) }
            if route.candidates.isEmpty {
                sendError(.modelNotFound(model))
                return
            }
        }
        record?.model = model
        // Built in the call, so the exchange takes it without a copy.
        let exchange = ProxyExchange(sink: self, loop: loop, request: ProxiedRequest(
            api: api, head: request.head, query: request.query, body: request.body,
            modelField: pathModel == nil || row.model == .bodyField ? field : nil,
            model: model, route: route, routeEntry: routeEntry, routeIsEntryRoute: routeIsEntryRoute, snapshot: snapshot, limiter: request.limiter,
            requestID: record?.requestID ?? ""))
        state = .exchanging(exchange)
        exchange.start()
    }

    // MARK: - Writing responses

    /// Starts the response: status line, `headers` (written by the caller),
    /// the request's own headers (request id, rate limits), for a stream
    /// `Cache-Control: no-cache` and `X-Accel-Buffering: no` (so no buffering
    /// proxy in front holds its events back), and the framing for a body of
    /// `contentLength` bytes (nil: not known yet).
    func writeResponseHead(
        status: HTTPResponseStatus, contentLength: Int?, isEventStream: Bool, headers: (inout ByteBuffer) -> Void
    ) {
        responseStarted = true
        isEventStreamResponse = isEventStream
        record?.status = Int(status.code)
        record?.firstByte = .now()
        let requestID = record?.requestID
        let rateLimit = rateLimitHeaders
        writer.head(
            version: requestVersion, status: status, contentLength: contentLength, requestIsHEAD: requestIsHEAD,
            keepAlive: &keepAlive, allocator: loop.allocator
        ) { buffer in
            headers(&buffer)
            if isEventStream {
                buffer.writeHTTPHeader("Cache-Control", "no-cache")
                buffer.writeHTTPHeader("X-Accel-Buffering", "no")
            }
            if let requestID { buffer.writeHTTPHeader("x-request-id", requestID) }
            if let rateLimit {
                buffer.writeHTTPHeader("x-ratelimit-limit-requests", decimal: rateLimit.limit)
                buffer.writeHTTPHeader("x-ratelimit-remaining-requests", decimal: rateLimit.remaining)
            }
        }
    }

    /// The exchange reports what the access log and metrics need.
    func noteUpstream(provider: String, retries: Int, usage: UsageObserver.Usage?, series: RequestSeries?) {
        record?.provider = provider
        record?.retries = retries
        record?.usage = usage
        record?.series = series
    }

    func writeResponseBody(_ buffer: ByteBuffer) {
        guard let context else { return }
        writer.body(buffer, allocator: loop.allocator) { context.write(wrapOutboundOut($0), promise: nil) }
    }

    /// Flushes after the loop's current batch of events (see `FlushCoalescer`).
    func flush() {
        guard let context else { return }
        writePending(context)
        loop.flushes.flushSoon(context)
    }

    private func writePending(_ context: ChannelHandlerContext) {
        if let pending = writer.takePending() { context.write(wrapOutboundOut(pending), promise: nil) }
    }

    private func requestDone(clientGone: Bool = false) {
        state = .idle
        incoming = nil
        // Bytes that do not parse as a request get OpenAI's shape.
        dialect = .openAI
        if requestInFlight {
            requestInFlight = false
            loop.requestFinished()
        }
        // Taken out, not copied (a retain and release per string).
        guard var finished = record.take() else { return }
        // 499: nginx's code for a client that left before its response ended.
        if clientGone { finished.status = 499 }
        let end = NIODeadline.now()
        if finished.endpoint != "other" || finished.status != 0 {
            finished.log(to: loop.logger, end: end)
        }
        if let series = finished.series {
            loop.metrics.requestFinished(
                series: series, status: finished.status, seconds: finished.seconds(until: end),
                firstByteSeconds: finished.firstByte.map { finished.seconds(until: $0) }, usage: finished.usage)
        } else if finished.isAPI {
            loop.metrics.requestFinished(
                endpoint: finished.endpoint, model: finished.model, provider: finished.provider, status: finished.status,
                seconds: finished.seconds(until: end),
                firstByteSeconds: finished.firstByte.map { finished.seconds(until: $0) })
        }
    }

    func finishResponse() {
        guard let context else { return }
        requestDone()
        let last = writer.end(allocator: loop.allocator)
        if keepAlive {
            if let last { context.write(wrapOutboundOut(last), promise: nil) }
            loop.flushes.flushSoon(context)
            awaitClient()
            resumeQueued()
        } else {
            context.writeAndFlush(wrapOutboundOut(last ?? .sharedEmpty)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// A body that cannot be completed: closing is the only honest signal.
    func abortResponse() {
        requestDone()
        guard let context else { return }
        writePending(context)
        context.flush()
        context.close(promise: nil)
    }

    /// An error answer in the current request's dialect.
    func sendError(_ error: OpenAIError) {
        var headers: [(String, String)] = []
        if let retryAfter = error.retryAfter { headers.append(("Retry-After", String(retryAfter))) }
        sendJSON(dialect.body(error), status: HTTPResponseStatus(statusCode: error.status), extraHeaders: headers)
    }

    func sendJSON(_ body: String, status: HTTPResponseStatus = .ok, extraHeaders: [(String, String)] = []) {
        sendText(body, contentType: "application/json", status: status, extraHeaders: extraHeaders)
    }

    private func sendText(_ body: String, contentType: String, status: HTTPResponseStatus = .ok, extraHeaders: [(String, String)] = []) {
        guard context != nil else { return }
        if responseStarted {
            abortResponse()
            return
        }
        writeResponseHead(status: status, contentLength: body.utf8.count, isEventStream: false) { buffer in
            for (name, value) in extraHeaders { buffer.writeHTTPHeader(name, value) }
            buffer.writeHTTPHeader("Content-Type", contentType)
        }
        writeResponseBody(ByteBuffer(string: body))
        finishResponse()
    }
}
