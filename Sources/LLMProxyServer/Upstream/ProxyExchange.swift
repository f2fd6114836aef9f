import LLMProxyCore
import Logging
import NIOCore
import NIOHTTP1

/// One proxied request from first attempt to last byte. Every decision is
/// `ExchangeStateMachine`'s; this class performs its actions: picks a
/// candidate by round-robin, gets a transport (pooled connection, new
/// connection, or the in-process mock), sends, relays the answer to the
/// `ResponseSink`, reports outcomes to health, and records usage.
///
/// Lives on the client connection's event loop, as do the upstream
/// connections it uses, so it is driven by plain method calls.
final class ProxyExchange: UpstreamResponseDelegate, DeadlineOwner {
    private let sink: any ResponseSink
    private let loop: LoopContext
    private var request: ProxiedRequest
    private var machine: ExchangeStateMachine
    private let balancer: RoundRobinState
    private var deadline: LoopDeadlines<ProxyExchange>.Slot?
    /// What the current attempt sends: built per attempt, encoded only once
    /// a connection is in hand (10,000 streams waiting on connects or first
    /// answers should not each hold a copy of their bytes).
    private struct Attempt {
        var plan: UpstreamRequestPlan
        var replacement: UpstreamRequestEncoder.ModelReplacement?
        var upstreamModel: String
        /// `Authorization` of a provider with `credentials`: its current token.
        var authorization: String?
        /// The `traceparent` of a traced attempt's span.
        var traceparent: String?
    }
    /// A sampled request's spans (nil: not traced).
    private let trace: RequestTrace?
    private var attempt: Attempt?
    private var transport: (any UpstreamTransport)?
    private var pendingConnect: PendingUpstreamConnect?
    /// The provider of the current (or last) attempt.
    private var providerIndex: Int?
    private var usage = UsageObserver()
    private var observeUsage = false
    /// Reads the id of a response being created, to remember its provider.
    private var responseIDScanner: ResponseIDScanner?
    /// A streamed upload: the request (head and the part in hand) went out,
    /// and later parts go straight to the transport.
    private var uploadSent = false
    /// A streamed upload's client body is all in.
    private var uploadEnded = false
    private var recorded = false

    init(sink: any ResponseSink, loop: LoopContext, request: consuming ProxiedRequest, trace: RequestTrace? = nil) {
        self.sink = sink
        self.loop = loop
        self.trace = trace
        // A streamed upload's bytes are not kept once sent: one attempt, as
        // nginx with `proxy_request_buffering off` cannot try another upstream.
        self.machine = ExchangeStateMachine(
            candidates: request.route.candidates.count, maxAttempts: request.upload == nil ? request.snapshot.config.retry.maxAttempts : 1,
            streamCompletion: request.api.row.streamCompletion, requestTimeoutSeconds: request.snapshot.config.server.requestTimeoutSeconds,
            movesOnAtNotFound: request.movesOnAtNotFound)
        self.balancer = request.routeIsEntryRoute
            ? request.routeEntry.balancer(loop: loop, snapshot: request.snapshot)
            : loop.balancer(for: request.route, snapshot: request.snapshot)
        // Last, and consumed, so the request is moved in rather than copied.
        self.request = consume request
        loop.liveObjects.created(.exchange)
    }

    deinit {
        loop.liveObjects.destroyed(.exchange)
    }

    private var config: GatewayConfig { request.snapshot.config }
    /// The client's model after suffix stripping.
    var model: String { request.model }
    private var providerName: String? { providerIndex.map { request.snapshot.providers[$0].name } }

    func start() {
        let timeout = TimeAmount(seconds: config.server.requestTimeoutSeconds)
        deadline = loop.requestDeadlines.add(self, at: .now() + timeout)
        run(machine.nextAttempt())
    }

    /// The client went away: drop the upstream exchange at once.
    func cancel() {
        run(machine.clientGone())
    }

    func clientWritabilityChanged(isWritable: Bool) {
        if machine.isRelaying { transport?.setReadPaused(!isWritable) }
    }

    /// Called by the loop's deadline timer (the slot is already gone).
    func deadlinePassed() {
        deadline = nil
        run(machine.deadlinePassed())
    }

    // MARK: - Actions

    private func run(_ action: ExchangeStateMachine.Action) {
        switch action {
        case .pickCandidate:
            let pick = loop.pickCandidate(request.route, balancer: balancer, tried: machine.tried, snapshot: request.snapshot)
            run(machine.candidatePicked(pick))
        case .connect(let candidate, let fresh, let isRetry):
            if isRetry, let providerName { loop.metrics.retried(provider: providerName) }
            if fresh {
                // The same attempt again: the stale connection goes, the plan stays.
                releaseTransport(reusable: false)
            } else {
                prepareAttempt(candidate: candidate)
                if attempt!.authorization == nil && request.snapshot.providers[providerIndex!].credentials != nil {
                    // Never sent without its token (fail-open picks a down provider too).
                    run(machine.credentialUnavailable())
                    return
                }
            }
            connect(fresh: fresh)
        case .sendRequest:
            transport?.send(to: self)
            if request.upload != nil { uploadRequestSent() }
        case .relayHead, .forwardBody:
            // Performed where the head or bytes are in hand (`upstreamResponseHead`, `upstreamResponseBody`).
            preconditionFailure("\(action) carries no bytes to run")
        case .readRetryableAnswer(let candidate, let healthFailure):
            loop.reportOutcome(provider: providerName(of: candidate), failure: healthFailure)
        case .finishRelay(let reusable, let interruption):
            // An answer that came before the whole upload went out leaves the
            // request unfinished on the wire.
            releaseTransport(reusable: reusable && (request.upload == nil || uploadEnded))
            if let interruption { sink.writeResponseBody(ByteBuffer(string: request.api.row.interruption.event(interruption))) }
            if interruption != nil { trace?.streamInterrupted = true }
            endAttemptSpan(errorType: interruption.map { _ in "stream_interrupted" })
            record()
            sink.finishResponse()
        case .attemptFailed(let candidate, let reason, let kind, let countsAgainstHealth, let reusable):
            endAttemptSpan(errorType: GenAIConventions.errorType(of: kind))
            releaseTransport(reusable: reusable)
            let provider = providerName(of: candidate)
            if countsAgainstHealth { loop.reportOutcome(provider: provider, failure: reason) }
            loop.logger.notice("upstream attempt failed", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
            run(machine.nextAttempt())
        case .giveUp(let lastAnswer, let lastFailure):
            record()
            if let lastAnswer {
                // An upstream answered: its own error is more useful than ours.
                relayWhole(lastAnswer)
            } else {
                let detail = lastFailure.map { "\(providerName(of: $0.candidate)): \($0.reason)" } ?? "no candidate was tried"
                sink.sendError(.upstreamUnavailable(detail))
            }
        case .timeout(let candidate, let error):
            dropInFlight()
            endAttemptSpan(errorType: "timeout")
            loop.reportOutcome(provider: providerName(of: candidate), failure: "timeout")
            record()
            sink.sendError(error)
        case .interrupt(let reason, let candidate, let healthFailure, let abandon):
            if abandon { dropInFlight() } else { transport = nil }
            if let healthFailure { loop.reportOutcome(provider: providerName(of: candidate), failure: healthFailure) }
            trace?.streamInterrupted = true
            endAttemptSpan(errorType: "stream_interrupted")
            record()
            if sink.isEventStreamResponse {
                sink.writeResponseBody(ByteBuffer(string: request.api.row.interruption.event(reason)))
                sink.finishResponse()
            } else {
                sink.abortResponse()
            }
        case .cancel:
            dropInFlight()
            endAttemptSpan(errorType: "client_gone")
            record()
        case .none:
            break
        }
    }

    /// The plan of an attempt on `candidate`, read in place: a copy of the
    /// provider's config would retain and release each of its strings.
    private func prepareAttempt(candidate: Int) {
        let providers = request.snapshot.config.providers
        let target = request.route.candidates[candidate]
        providerIndex = target.providerIndex
        let plan = request.routeIsEntryRoute && request.api.row.model == .bodyField
            ? request.routeEntry.plan(candidate: candidate, api: request.api, provider: providers[target.providerIndex])
            : ProviderAdapters.adapter(for: providers[target.providerIndex].type)
                .plan(
                    request.api, upstreamModel: target.upstreamModel, provider: providers[target.providerIndex], clientQuery: request.query,
                    responseID: request.responseID)
        let replacement = plan.replacesModel
            ? request.modelField.map {
                UpstreamRequestEncoder.ModelReplacement(range: $0.valueRange, model: target.upstreamModel, isJSON: !request.modelFieldIsMultipart)
            }
            : nil
        let authorization = providers[target.providerIndex].credentials == nil ? nil : loop.authorization(provider: target.providerIndex, of: request.snapshot)
        attempt = Attempt(plan: plan, replacement: replacement, upstreamModel: target.upstreamModel, authorization: authorization)
        if let trace { attempt!.traceparent = startAttemptSpan(trace, provider: providers[target.providerIndex], upstreamModel: target.upstreamModel) }
    }

    private func connect(fresh: Bool) {
        guard let providerIndex else { return }
        // The usual case, an idle keep-alive connection (or the mock), without
        // a callback. A streamed upload takes a new connection: a kept-alive
        // one the provider closed under it could not be sent again.
        if let ready = loop.readyUpstream(provider: providerIndex, of: request.snapshot, fresh: fresh || request.upload != nil) {
            transport = ready
            run(machine.connectionReady(reused: ready.isReused))
            return
        }
        let connectTimeout = TimeAmount(seconds: config.server.connectTimeoutSeconds)
        pendingConnect = loop.connectUpstream(provider: providerIndex, of: request.snapshot, connectTimeout: connectTimeout) { [self] result in
            pendingConnect = nil
            switch result {
            case .success(let connection):
                guard !machine.isFinished else {
                    // Cancelled or timed out while connecting: a warm connection for the next request.
                    connection.release(reusable: true)
                    return
                }
                transport = connection
                run(machine.connectionReady(reused: connection.isReused))
            case .failure(let error):
                run(machine.connectFailed("\(error)"))
            }
        }
    }

    private func releaseTransport(reusable: Bool) {
        transport?.release(reusable: reusable)
        transport = nil
    }

    /// Whatever is in flight goes without a callback.
    private func dropInFlight() {
        let pending = pendingConnect
        pendingConnect = nil
        pending?.cancel()
        transport?.abandon()
        transport = nil
    }

    private func providerName(of candidate: Int) -> String {
        request.snapshot.providers[request.route.candidates[candidate].providerIndex].name
    }

    // MARK: - Upstream events

    var upstreamMethod: HTTPMethod { request.head.method }

    func encodeUpstreamRequest(host: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        // Read in place: binding the attempt copied it.
        UpstreamRequestEncoder.encode(
            method: request.head.method, plan: attempt!.plan, host: host, client: request.head.headers, requestID: request.requestID,
            authorization: attempt!.authorization, traceparent: attempt!.traceparent, body: request.body, replacingModel: attempt!.replacement, upload: request.upload, allocator: allocator)
    }

    // MARK: - A streamed upload

    /// More of the client's body. Before the request went out it joins the
    /// part in hand, and the client's reads pause: at most one read's worth
    /// waits on a connect.
    func clientBodyPart(_ buffer: ByteBuffer) {
        guard !machine.isFinished else { return }
        if uploadSent {
            guard let transport else { return }
            transport.writeBodyPart(request.upload == .chunked ? UpstreamRequestEncoder.UploadFraming.chunk(buffer, allocator: loop.allocator) : buffer)
            if !transport.isWritable { sink.pauseUploadReads(true) }
        } else {
            var part = buffer
            request.body.writeBuffer(&part)
            sink.pauseUploadReads(true)
        }
    }

    func clientBodyEnded() {
        uploadEnded = true
        guard uploadSent, !machine.isFinished else { return }
        writeUploadEnd()
    }

    /// A chunked upload ends with its last chunk; a sized one where its length does.
    private func writeUploadEnd() {
        if request.upload == .chunked { transport?.writeBodyPart(UpstreamRequestEncoder.UploadFraming.chunk(.sharedEmpty, allocator: loop.allocator)) }
    }

    /// The head and the part in hand are out: that part goes, and the rest
    /// of the body follows as it arrives.
    private func uploadRequestSent() {
        guard transport != nil, !uploadSent else { return }
        uploadSent = true
        request.body = .sharedEmpty
        if uploadEnded {
            writeUploadEnd()
        } else {
            sink.pauseUploadReads(!(transport?.isWritable ?? true))
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if uploadSent && !uploadEnded { sink.pauseUploadReads(!isWritable) }
    }

    var inProcessRequest: InProcessRequest {
        InProcessRequest(api: request.api, body: request.body, upstreamModel: attempt?.upstreamModel ?? request.model, responseID: request.responseID)
    }

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        trace?.attempt?.facts.statusCode = Int(head.status.code)
        let (isEventStream, contentLength) = ForwardedHeaders.inspectDownstream(head.headers)
        let action = machine.responseHead(head, isEventStream: isEventStream, contentLength: contentLength)
        if case .relayHead(let isEventStream, let contentLength, let candidate, let healthFailure) = action {
            loop.reportOutcome(provider: providerName(of: candidate), failure: healthFailure)
            relay(head, isEventStream: isEventStream, contentLength: contentLength)
        } else {
            run(action)
        }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        let action = machine.responseBody(buffer)
        if case .forwardBody = action {
            if let trace, !trace.responseModelRead { readResponseModel(buffer, trace: trace) }
            if observeUsage { usage.observe(buffer) }
            if responseIDScanner != nil { findResponseID(buffer) }
            sink.writeResponseBody(buffer)
        } else {
            run(action)
        }
    }

    func upstreamReadComplete() {
        guard machine.isRelaying else { return }
        sink.flush()
        if !sink.isWritable { transport?.setReadPaused(true) }
    }

    func upstreamResponseEnd(reusable: Bool) {
        run(machine.responseEnd(reusable: reusable))
    }

    func upstreamFailed(_ error: any Error) {
        run(machine.connectionFailed("\(error)"))
    }

    // MARK: - Spans of a traced request

    private func startAttemptSpan(_ trace: RequestTrace, provider: ProviderConfig, upstreamModel: String) -> String? {
        guard let tracing = loop.tracing else { return nil }
        let providerName = GenAIConventions.providerName(of: provider)
        trace.providerName = providerName
        trace.responseModelRead = false
        var facts = SpanFacts(operation: trace.operation, providerName: providerName, provider: provider.name)
        if !upstreamModel.isEmpty { facts.requestModel = upstreamModel }
        if let endpoint = provider.endpoint {
            facts.serverAddress = endpoint.host
            facts.serverPort = endpoint.port
        }
        return tracing.startAttempt(
            of: trace, serverSpanName: trace.serverSpanName(model: request.model, method: request.head.method.rawValue, route: request.api.row.endpointLabel),
            name: "\(trace.operation) \(upstreamModel)", facts: facts)
    }

    /// `errorType`: how the attempt failed (nil: it did not).
    private func endAttemptSpan(errorType: String?) {
        guard let trace, let tracing = loop.tracing else { return }
        tracing.endAttempt(of: trace, error: errorType)
    }

    /// `gen_ai.response.model`, from the answer's first part.
    private func readResponseModel(_ buffer: ByteBuffer, trace: RequestTrace) {
        trace.responseModelRead = true
        guard (trace.attempt?.facts.statusCode ?? 0) < 300, let model = buffer.withUnsafeReadableBytes({ ResponseModelScanner.model(in: $0) }) else { return }
        trace.responseModel = model
        trace.attempt?.facts.responseModel = model
    }

    // MARK: - Answers

    private func relay(_ head: HTTPResponseHead, isEventStream: Bool, contentLength: Int?) {
        observeUsage = head.status.code < 300
        if head.status.code < 300 { noteResponseHolder() }
        // No attempt follows: the request's bytes can go now rather than at
        // the end of what may be a minutes-long stream.
        attempt = nil
        request.body = .sharedEmpty
        request.head.headers = HTTPHeaders()
        // A stream is chunked whatever its provider said: the gateway may
        // have to add an interruption event to it.
        sink.writeResponseHead(status: head.status, contentLength: isEventStream ? nil : contentLength, isEventStream: isEventStream) { buffer in
            ForwardedHeaders.downstreamResponse(head.headers, isEventStream: isEventStream) {
                buffer.writeHTTPHeader($0, $1)
            }
        }
        if !sink.isWritable { transport?.setReadPaused(true) }
    }

    private func relayWhole(_ answer: ExchangeStateMachine.BufferedAnswer) {
        sink.writeResponseHead(status: answer.head.status, contentLength: answer.body.readableBytes, isEventStream: false) { buffer in
            ForwardedHeaders.downstreamResponse(answer.head.headers, isEventStream: false) { buffer.writeHTTPHeader($0, $1) }
        }
        sink.writeResponseBody(answer.body)
        sink.finishResponse()
    }

    /// Response affinity, from a successful answer: a created response's id
    /// is read from its first bytes; a named one is confirmed here; a deleted
    /// one is forgotten.
    private func noteResponseHolder() {
        switch request.api.row.affinity {
        case .none:
            break
        case .creates:
            responseIDScanner = ResponseIDScanner()
        case .names:
            if let id = request.responseID, let providerName {
                SharedResponseAffinity.remember(id, provider: providerName, loop: loop, config: request.snapshot.config.sharedState)
            }
        case .deletes:
            if let id = request.responseID { SharedResponseAffinity.forget(id, loop: loop, config: request.snapshot.config.sharedState) }
        }
    }

    private func findResponseID(_ buffer: ByteBuffer) {
        responseIDScanner!.observe(buffer)
        guard responseIDScanner!.isDone else { return }
        if let id = responseIDScanner!.id, let providerName {
            SharedResponseAffinity.remember(id, provider: providerName, loop: loop, config: request.snapshot.config.sharedState)
        }
        responseIDScanner = nil
    }

    /// Once, when the exchange ends however it ends: the deadline goes,
    /// usage is charged to the key, the access record gets its upstream side.
    private func record() {
        guard !recorded else { return }
        recorded = true
        if let deadline { loop.requestDeadlines.remove(deadline) }
        deadline = nil
        let usage = self.usage.usage
        if let total = usage?.total {
            request.limiter?.charge(tokens: total)
            request.modelLimiter?.charge(tokens: total)
            // One budget for every replica: paid in the store too (fire and forget).
            if let shared = request.sharedLimits, let config = request.snapshot.config.sharedState,
                let arguments = shared.chargeArguments(prefix: config.keyPrefix, tokens: total)
            {
                loop.sharedState?.eval(.charge, keys: 2, arguments: arguments, callback: nil)
            }
        }
        let series = providerIndex.map { index in
            request.routeEntry.series(api: request.api, providerIndex: index, provider: providerName ?? "", metrics: loop.metrics)
        }
        sink.noteUpstream(provider: providerName ?? "", retries: machine.retries, usage: usage, series: series)
    }
}
