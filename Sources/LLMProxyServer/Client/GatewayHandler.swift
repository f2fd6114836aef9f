import LLMProxyCore
import Logging
import NIOCore
import NIOHTTP1

/// One client connection. Its decisions are `ClientConnectionStateMachine`'s
/// (pipelining, body limit, keep-alive, drain, idle clients, parse errors)
/// and `RequestAdmission`'s (route, key, limit, body scan, permission,
/// resolution); this handler performs them, hands an admitted call to a
/// `ProxyExchange` (to which it is the `ResponseSink`), answers the
/// gateway's own endpoints, and writes responses as bytes
/// (`ClientResponseWriter`). Runs entirely on the connection's event loop.
///
/// The request path, hop by hop: NIO's request decoder -> `channelRead`
/// -> state machine -> admission (head, then limit and body) -> exchange
/// (state machine: attempts, relay, finish) -> this sink -> access record.
final class GatewayHandler: ChannelDuplexHandler, RemovableChannelHandler, DeadlineOwner, ResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let loop: LoopContext
    private let gateway: GatewayState
    private var context: ChannelHandlerContext?
    private var machine = ClientConnectionStateMachine()
    /// The request being read, outside any enum so its body grows in place
    /// and it leaves for the exchange without a copy (taking an enum
    /// payload out copies it: a retain and release per field).
    private var incoming: IncomingRequest?
    private var exchange: ProxyExchange?
    private(set) var isEventStreamResponse = false
    private var writer = ClientResponseWriter()
    private var requestVersion = HTTPVersion.http1_1
    private var requestIsHEAD = false
    /// The error dialect of the current request's API.
    private var dialect = ErrorDialect.openAI
    /// What the current request was refused with, answered once its body is
    /// read (or what NIO's parser said of the bytes).
    private var refusal: OpenAIError?
    /// The access-log and metrics record of the request in flight.
    private var record: RequestRecord?
    /// The spans of a sampled request (nil: not traced).
    private var trace: RequestTrace?
    /// The key's request limit and what is left of it, which every response
    /// to the current request reports (as it does its request id, from `record`).
    private var rateLimitHeaders: RequestAdmission.RateLimitHeaders?
    /// The request a shared-limit reply is for; bumped when a request ends
    /// or its client leaves, so a late reply finds it stale.
    private var admissionTicket: UInt32 = 0
    /// A streamed upload's parts that arrived while the store decided (reads
    /// pause meanwhile; these came in the same read), and whether its end did.
    private var uploadWhileDeciding: (parts: [ByteBuffer], ended: Bool)?
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
        clientGone()
        loop.connectionClosed(self)
        self.context = nil
    }

    /// Draining: an idle connection closes now; a busy one after its response.
    func drain() {
        run(machine.drain())
    }

    func closeNow() {
        context?.close(promise: nil)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        run(machine.channelRead(part), part: part)
    }

    func read(context: ChannelHandlerContext) {
        run(machine.read())
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientGone()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.clientWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if machine.awaitsClient { awaitClient() } else { stopAwaitingClient() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            refusal = .invalidRequest("The request is not valid HTTP/1.1: \(error).", param: nil)
            run(machine.parseError())
        } else {
            loop.logger.debug("client connection error", metadata: ["error": "\(error)"])
            run(machine.connectionError())
        }
    }

    /// Performs what the state machine decided about `part` (the request
    /// part the event was about, if any).
    private func run(_ action: ClientConnectionStateMachine.Action, part: HTTPServerRequestPart? = nil) {
        switch action {
        case .none:
            break
        case .read:
            context?.read()
        case .admit:
            guard case .head(let head) = part else { return }
            begin(head)
        case .appendBody:
            guard case .body(var buffer) = part, incoming != nil else { return }
            if incoming!.body.readableBytes == 0 {
                // Most bodies arrive in one read: keep that slice, no copy.
                incoming!.body = buffer
            } else {
                incoming!.body.writeBuffer(&buffer)
            }
            if incoming!.multipart != nil { scanUpload(bodyEnded: false) }
        case .answer:
            // `incoming` is set whenever the machine admitted a head; were it
            // not, closing beats a connection left waiting for nothing.
            guard incoming != nil else { return abortResponse() }
            if incoming!.multipart != nil {
                // An upload whose `model` comes last, or a small one: all of it is in hand.
                scanUpload(bodyEnded: true)
                guard incoming != nil else { return }
            }
            answer(incoming.take()!)
        case .forwardBody:
            guard case .body(let buffer) = part else { return }
            if let exchange { exchange.clientBodyPart(buffer) } else { uploadWhileDeciding?.parts.append(buffer) }
        case .bodyEnded:
            if let exchange { exchange.clientBodyEnded() } else { uploadWhileDeciding?.ended = true }
        case .answerError(let error):
            incoming = nil
            // An upload refused mid-body (its limit, a stalled client) may have an exchange under way.
            if let exchange {
                self.exchange = nil
                exchange.cancel()
            }
            let answer: OpenAIError
            switch error {
            case .refusal: answer = refusal ?? .invalidRequest("The request was refused.")
            case .bodyTooLarge(let limit): answer = .requestTooLarge(limit: limit)
            case .requestTimeout: answer = .requestTimeout()
            case .invalidHTTP: answer = refusal ?? .invalidRequest("The request is not valid HTTP/1.1.")
            }
            refusal = nil
            sendError(answer)
        case .sendContinue:
            context?.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        case .close:
            context?.close(promise: nil)
        case .resumeQueued:
            resumeQueued()
        }
    }

    /// After a response: serve what was pipelined behind it, then read again.
    private func resumeQueued() {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        // Deferred, so the next request never starts inside the previous one's callbacks.
        context.eventLoop.execute {
            let handler = bound.value
            while let (action, part) = handler.machine.nextQueued() { handler.run(action, part: part) }
        }
    }

    /// The client left: the exchange stops at once and the record says 499.
    private func clientGone() {
        let exchange = self.exchange
        self.exchange = nil
        exchange?.cancel()
        requestDone(clientGone: record != nil)
        machine.responseAborted()
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
        run(machine.idleTimeout())
    }

    // MARK: - Admission

    private func begin(_ head: HTTPRequestHead) {
        loop.requestStarted()
        isEventStreamResponse = false
        requestVersion = head.version
        requestIsHEAD = head.method == .HEAD
        let facts = RequestHeadFacts(head.headers)
        let (route, path, query) = GatewayRoute.match(method: head.method, uri: head.uri)
        dialect = route.dialect(path: path)
        // Built in place: a local record assigned here was copied (a retain
        // and release per string).
        record = RequestRecord(
            requestID: RequestRecord.requestID(from: facts.requestID, generator: &loop.requestIDs), method: head.method.rawValue, path: String(path))
        record!.endpoint = route.metricsEndpoint
        record!.isAPI = route.isAPI
        trace = nil
        if let tracing = loop.tracing, route.isAPI, let started = tracing.begin(traceparent: facts.traceparent, headers: head.headers) {
            if case .proxy(let api, _) = route { started.operation = GenAIConventions.operation(of: api) }
            trace = started
        }
        rateLimitHeaders = nil
        if route.isAPI { loop.metrics.requestStarted() }
        let snapshot = loop.config
        switch RequestAdmission.admitHead(method: head.method, route: route, path: path, query: query, facts: facts, snapshot: snapshot) {
        case .admitted(let keyIndex):
            // Plain branches: `Optional.map` over these types looked generic
            // metadata up at run time on every request.
            var limiter: KeyRateLimiter?
            var modelLimiters: [KeyRateLimiter] = []
            if let keyIndex {
                record?.keyName = snapshot.keys.keys[keyIndex].name
                limiter = loop.limiters[keyIndex]
                if keyIndex < loop.modelLimiters.count { modelLimiters = loop.modelLimiters[keyIndex] }
            }
            // Built in place: a request built elsewhere and assigned was copied.
            incoming = IncomingRequest(
                head: head, route: route, path: path, query: query, snapshot: snapshot, keyIndex: keyIndex,
                limiter: limiter, modelLimiters: modelLimiters, body: .sharedEmpty)
            guard case .proxy(let api, let pathModel) = route, api.row.model == .multipartField else {
                run(machine.admitted(bodyLimit: snapshot.config.server.maxBodyBytes, expectsContinue: facts.expectsContinue))
                return
            }
            admitUpload(head, pathModel: pathModel, limit: RequestAdmission.bodyLimit(of: api, snapshot.config.server), expectsContinue: facts.expectsContinue)
        case .refused(let error, let close):
            refusal = error
            machine.refused(close: close)
        }
    }

    // MARK: - Streamed uploads

    /// A multipart upload: its body is read until its `model` field is
    /// found (`scanUpload`), and from there streams to the provider. On an
    /// Azure-style path the deployment is the model, so it streams at once
    /// (the form's `model`, if any, goes unchanged; Azure reads the path).
    private func admitUpload(_ head: HTTPRequestHead, pathModel: String?, limit: Int, expectsContinue: Bool) {
        if pathModel == nil {
            guard let scanner = head.headers.first(name: "content-type").flatMap({ MultipartModelScanner(contentType: $0) }) else {
                refusal = .invalidRequest("An upload must be multipart/form-data with a boundary.", param: nil)
                machine.refused(close: false)
                return
            }
            incoming!.multipart = scanner
        }
        run(machine.admitted(bodyLimit: limit, expectsContinue: expectsContinue))
        if pathModel != nil { startStreamingUpload() }
    }

    /// Looks for the upload's `model` field in what is in hand; once found,
    /// the request is answered while the rest of its body arrives. What
    /// precedes the field is held, within `max_body_bytes`.
    private func scanUpload(bodyEnded: Bool) {
        guard var scanner = incoming!.multipart.take() else { return }
        let outcome = incoming!.body.withUnsafeReadableBytes { bytes in bodyEnded ? scanner.bodyEnded(bytes) : scanner.scan(bytes) }
        let limit = loop.config.config.server.maxBodyBytes
        let tooFar = OpenAIError(
            status: 413, message: "The upload's 'model' field is not within its first \(limit) bytes (max_body_bytes): send it before the file.",
            type: "invalid_request_error", param: "model", code: "request_too_large")
        switch outcome {
        case .needMore:
            guard incoming!.body.readableBytes <= limit else { return refuseUpload(tooFar, bodyEnded: bodyEnded) }
            incoming!.multipart = scanner
        case .found(let field):
            // The rule does not depend on how the reads fell.
            guard field.valueRange.upperBound <= limit else { return refuseUpload(tooFar, bodyEnded: bodyEnded) }
            incoming!.multipartField = field
            if !bodyEnded { startStreamingUpload() }
        case .failed(let failure):
            refuseUpload(.invalidRequest(failure.message, param: failure.param), bodyEnded: bodyEnded)
        }
    }

    /// Answered once the body is all in: now if it is, else after the rest is read and dropped.
    private func refuseUpload(_ error: OpenAIError, bodyEnded: Bool) {
        incoming = nil
        if bodyEnded {
            sendError(error)
        } else {
            refusal = error
            machine.bodyRefused()
        }
    }

    private func startStreamingUpload() {
        guard incoming != nil else { return }
        machine.bodyStreamingStarted()
        incoming!.streamsBody = true
        answer(incoming.take()!)
    }

    func pauseUploadReads(_ paused: Bool) {
        run(machine.uploadReadsPaused(paused))
    }

    private func answer(_ request: consuming IncomingRequest) {
        if case .proxy(let api, let pathModel) = request.route, let client = loop.sharedState, let shared = request.snapshot.config.sharedState {
            return answerWithSharedLimits(request, api: api, pathModel: pathModel, client: client, config: shared)
        }
        switch RequestAdmission.checkLimit(request, loop: loop) {
        case .allowed(let headers):
            rateLimitHeaders = headers
            limitPassed(request)
        case .refused(let error, let headers):
            rateLimitHeaders = headers
            sendError(error)
        }
    }

    /// The rest of admission once the limit let the request through.
    private func limitPassed(_ request: consuming IncomingRequest) {
        guard case .proxy(let api, let pathModel) = request.route else { return answerControl(request) }
        do throws(RequestAdmission.BodyRefusal) {
            // Without `shared_state` (see `answer`): no store to ask about limits or response ids.
            let proxied = try RequestAdmission.admitBody(request, api: api, pathModel: pathModel, requestID: record?.requestID ?? "", loop: loop)
            if !proxied.model.isEmpty { record?.model = proxied.model }
            // Consumed: passed as it is, the exchange got a copy (a retain
            // and release per field).
            startExchange(consume proxied)
        } catch {
            if let model = error.model { record?.model = model }
            if let headers = error.rateLimit { rateLimitHeaders = headers }
            sendError(error.error)
        }
    }

    @discardableResult
    private func startExchange(_ request: consuming ProxiedRequest) -> ProxyExchange {
        let exchange = ProxyExchange(sink: self, loop: loop, request: consume request, trace: trace)
        self.exchange = exchange
        exchange.start()
        return exchange
    }

    /// With `shared_state`: the body is scanned and resolved first, then the
    /// store decides the key's and the model's limits in one call, and the
    /// exchange starts when it answers (on this loop). A reply that comes
    /// after the client left, or after another request began on this
    /// connection, finds its ticket stale and does nothing.
    private func answerWithSharedLimits(
        _ request: consuming IncomingRequest, api: API, pathModel: String?, client: RedisClient, config: SharedStateConfig
    ) {
        let proxied: ProxiedRequest
        do throws(RequestAdmission.BodyRefusal) {
            proxied = try RequestAdmission.admitBody(
                request, api: api, pathModel: pathModel, requestID: record?.requestID ?? "", loop: loop, takesModelLimit: false)
        } catch {
            if let model = error.model { record?.model = model }
            return sendError(error.error)
        }
        if !proxied.model.isEmpty { record?.model = proxied.model }
        admissionTicket &+= 1
        let ticket = admissionTicket
        if proxied.upload != nil {
            uploadWhileDeciding = ([], false)
            run(machine.uploadReadsPaused(true))
        }
        SharedResponseAffinity.lookUp(proxied, loop: loop) { [self] located in
            guard ticket == admissionTicket, record != nil, context != nil else { return }
            decideSharedLimits(located, client: client, config: config, ticket: ticket)
        }
    }

    private func decideSharedLimits(_ proxied: consuming ProxiedRequest, client: RedisClient, config: SharedStateConfig, ticket: UInt32) {
        SharedLimitStep.decide(proxied, client: client, config: config, loop: loop) { [self] outcome in
            guard ticket == admissionTicket, record != nil, context != nil else { return }
            let upload = uploadWhileDeciding.take()
            switch outcome {
            case .admitted(let request, let headers):
                rateLimitHeaders = headers
                let exchange = startExchange(request)
                if let upload {
                    for part in upload.parts { exchange.clientBodyPart(part) }
                    if upload.ended { exchange.clientBodyEnded() }
                }
            case .refused(let error, let headers):
                rateLimitHeaders = headers
                sendError(error)
            }
        }
    }

    /// The gateway's own endpoints.
    private func answerControl(_ request: consuming IncomingRequest) {
        switch request.route {
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
        case .proxy, .notFound, .methodNotAllowed:
            abortResponse()
        }
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
        isEventStreamResponse = isEventStream
        record?.status = Int(status.code)
        record?.firstByte = .now()
        let requestID = record?.requestID
        let rateLimit = rateLimitHeaders
        var keepAlive = machine.keepAlive
        defer { machine.responseHeadWritten(keepAlive: keepAlive) }
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

    /// The answer is over (however it ended): the access record and
    /// metrics are written; the machine is told by the caller.
    private func requestDone(clientGone: Bool = false) {
        admissionTicket &+= 1
        uploadWhileDeciding = nil
        incoming = nil
        exchange = nil
        // Bytes that do not parse as a request get OpenAI's shape.
        dialect = .openAI
        if machine.requestInFlight { loop.requestFinished() }
        // Taken out, not copied (a retain and release per string).
        guard var finished = record.take() else { return }
        // 499: nginx's code for a client that left before its response ended.
        if clientGone { finished.status = 499 }
        let end = NIODeadline.now()
        if let trace = trace.take() {
            endTrace(trace, record: &finished, end: end)
        }
        if finished.endpoint != "other" || finished.status != 0 {
            loop.accessLog?.append(finished, end: end)
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

    /// The server span of a traced request ends with the access record's facts.
    private func endTrace(_ trace: RequestTrace, record: inout RequestRecord, end: NIODeadline) {
        guard let tracing = loop.tracing else { return }
        let name = trace.serverSpanName(model: record.model, method: record.method, route: record.endpoint)
        var facts = SpanFacts(operation: trace.operation, providerName: trace.providerName, responseModel: trace.responseModel)
        if !record.model.isEmpty { facts.requestModel = record.model }
        if let usage = record.usage {
            facts.inputTokens = usage.prompt
            facts.outputTokens = usage.completion
        }
        facts.requestMethod = record.method
        facts.route = record.endpoint
        facts.statusCode = record.status
        facts.requestID = record.requestID
        facts.keyName = record.keyName
        if !record.provider.isEmpty { facts.provider = record.provider }
        if record.retries > 0 { facts.retries = record.retries }
        if let firstByte = record.firstByte { facts.timeToFirstByteSeconds = record.seconds(until: firstByte) }
        if isEventStreamResponse || trace.streamInterrupted { facts.streamInterrupted = trace.streamInterrupted }
        facts.errorType = trace.streamInterrupted ? "stream_interrupted" : GenAIConventions.errorType(status: record.status)
        tracing.endRequest(trace, name: name, facts: facts, isError: facts.errorType != nil)
        record.traceID = trace.traceID
    }

    func finishResponse() {
        guard let context else { return }
        requestDone()
        let last = writer.end(allocator: loop.allocator)
        let next = machine.responseFinished()
        if case .close = next {
            context.writeAndFlush(wrapOutboundOut(last ?? .sharedEmpty)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        if let last { context.write(wrapOutboundOut(last), promise: nil) }
        loop.flushes.flushSoon(context)
        awaitClient()
        run(next)
    }

    /// A body that cannot be completed: closing is the only honest signal.
    func abortResponse() {
        requestDone()
        machine.responseAborted()
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
        if machine.responseStarted {
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
