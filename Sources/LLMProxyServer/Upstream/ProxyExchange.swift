import LLMProxyCore
import Logging
import NIOCore
import NIOHTTP1

/// One proxied request from first attempt to last byte: picks candidates,
/// retries failures that happen before the client has seen a byte, relays
/// the chosen response part by part, and enforces the request deadline.
///
/// Lives on the client connection's event loop, as do the upstream
/// connections it uses, so it is driven by plain method calls.
final class ProxyExchange: UpstreamResponseDelegate, DeadlineOwner {
    private enum State {
        case connecting(candidate: Int, PendingUpstreamConnect?)
        case awaitingHead(UpstreamConnection, candidate: Int)
        /// A retryable error answer (5xx, 429) being read to the end, so the
        /// connection stays reusable and the answer can be returned if no
        /// later attempt does better.
        case drainingRetryable(UpstreamConnection, candidate: Int, head: HTTPResponseHead, body: ByteBuffer)
        case relaying(UpstreamConnection, candidate: Int, tracker: StreamCompletionTracker?)
        case finished
    }

    private let handler: GatewayHandler
    private let loop: LoopContext
    private var request: ProxiedRequest
    private var state: State
    private var tried: [Bool]
    private let balancer: RoundRobinState
    private var attempts = 0
    private var lastFailure = "no candidate was tried"
    private var lastErrorAnswer: (head: HTTPResponseHead, body: ByteBuffer)?
    private var staleConnectionRetried = false
    private var deadline: LoopDeadlines<ProxyExchange>.Slot?
    /// What the current attempt sends. It is encoded only once a connection
    /// is in hand, and the bytes are NIO's until written: 10,000 streams
    /// waiting on connects or first answers should not each hold a copy.
    private struct UpstreamRequest {
        var plan: UpstreamRequestPlan
        var replacement: UpstreamRequestEncoder.ModelReplacement?
        /// Also where the `Host` header comes from (`key.endpoint.hostHeader`).
        var key: UpstreamPoolKey
    }
    private var upstreamRequest: UpstreamRequest?
    /// The provider of the current (or last) attempt.
    private var providerIndex: Int?
    private var providerName: String? { providerIndex.map { request.snapshot.providers[$0].name } }
    private(set) var retries = 0
    private var usage = UsageObserver()
    /// The mock provider's usage, which it knows without parsing its own output.
    private var mockUsage: UsageObserver.Usage?
    private var observeUsage = false

    init(handler: GatewayHandler, loop: LoopContext, request: consuming ProxiedRequest) {
        self.handler = handler
        self.loop = loop
        self.tried = Array(repeating: false, count: request.route.candidates.count)
        self.balancer = request.routeIsEntryRoute
            ? request.routeEntry.balancer(loop: loop, snapshot: request.snapshot)
            : loop.balancer(for: request.route, snapshot: request.snapshot)
        self.state = .finished
        // Last, so the request is moved in rather than copied.
        self.request = request
        loop.liveObjects.created(.exchange)
    }

    deinit {
        loop.liveObjects.destroyed(.exchange)
    }

    private var config: GatewayConfig { request.snapshot.config }

    func start() {
        let timeout = TimeAmount(seconds: config.server.requestTimeoutSeconds)
        deadline = loop.requestDeadlines.add(self, at: .now() + timeout)
        nextAttempt()
    }

    /// The client went away: drop the upstream exchange at once.
    func cancel() {
        // Finished first: a cancelled connect reports its failure at once,
        // and that must not start another attempt.
        let abandoned = state
        finish()
        switch abandoned {
        case .awaitingHead(let connection, _), .drainingRetryable(let connection, _, _, _), .relaying(let connection, _, _):
            connection.abandon()
        case .connecting(_, let pending):
            pending?.cancel()
        case .finished:
            break
        }
    }

    func clientWritabilityChanged(isWritable: Bool) {
        if case .relaying(let connection, _, _) = state { connection.setReadPaused(!isWritable) }
    }

    // MARK: - Attempts

    private func nextAttempt() {
        guard attempts < config.retry.maxAttempts,
            let candidateIndex = loop.pickCandidate(request.route, balancer: balancer, tried: tried, snapshot: request.snapshot)
        else {
            giveUp()
            return
        }
        if attempts > 0 {
            retries += 1
            if let providerName { loop.metrics.retried(provider: providerName) }
        }
        attempts += 1
        tried[candidateIndex] = true
        let candidate = request.route.candidates[candidateIndex]
        // The provider is read in place: a copy of its config would retain
        // and release each of its strings and tables.
        let providers = request.snapshot.config.providers
        let index = candidate.providerIndex
        providerIndex = index
        // Only providers with an endpoint have a pool key; the mock has neither.
        guard providers[index].type != .mock, let key = loop.poolKey(provider: index, of: request.snapshot) else {
            answerFromMock(upstreamModel: candidate.upstreamModel)
            return
        }
        let plan = request.routeIsEntryRoute && request.api.row.model == .bodyField
            ? request.routeEntry.plan(candidate: candidateIndex, api: request.api, provider: providers[index])
            : ProviderAdapters.adapter(for: providers[index].type)
                .plan(request.api, upstreamModel: candidate.upstreamModel, provider: providers[index], clientQuery: request.query)
        let replacement = plan.replacesModel
            ? request.modelField.map { UpstreamRequestEncoder.ModelReplacement(range: $0.valueRange, model: candidate.upstreamModel) }
            : nil
        upstreamRequest = UpstreamRequest(plan: plan, replacement: replacement, key: key)
        staleConnectionRetried = false
        connect(candidate: candidateIndex)
    }

    private func connect(candidate: Int, fresh: Bool = false) {
        // Only the key: binding the whole request copied it.
        guard let key = upstreamRequest?.key else { return }
        // The usual case, an idle keep-alive connection, without a callback.
        if !fresh, let connection = loop.pool.leaseIdle(key) {
            send(on: connection, candidate: candidate)
            return
        }
        state = .connecting(candidate: candidate, nil)
        let connectTimeout = TimeAmount(seconds: config.server.connectTimeoutSeconds)
        let pending = loop.pool.connect(key, connectTimeout: connectTimeout) { [self] result in
            guard case .connecting(let current, _) = state, current == candidate else {
                // Cancelled or timed out while connecting.
                if case .success(let connection) = result { loop.pool.release(connection, reusable: true) }
                return
            }
            switch result {
            case .success(let connection):
                send(on: connection, candidate: candidate)
            case .failure(let error):
                attemptFailed(candidate: candidate, reason: "connect error: \(error)")
            }
        }
        // Unless the connect already finished (it fails at once without a TLS context).
        if case .connecting(let current, nil) = state, current == candidate { state = .connecting(candidate: candidate, pending) }
    }

    private func send(on connection: UpstreamConnection, candidate: Int) {
        guard upstreamRequest != nil else { return }
        state = .awaitingHead(connection, candidate: candidate)
        // Read in place: binding the whole request copied it.
        let bytes = UpstreamRequestEncoder.encode(
            method: request.head.method, plan: upstreamRequest!.plan, host: upstreamRequest!.key.endpoint.hostHeader,
            client: request.head.headers, requestID: request.requestID, body: request.body,
            replacingModel: upstreamRequest!.replacement, allocator: loop.allocator)
        connection.send(bytes, method: request.head.method, delegate: self)
    }

    private func attemptFailed(candidate: Int, reason: String, countsAgainstHealth: Bool = true) {
        let provider = providerName(of: candidate)
        lastFailure = "\(provider): \(reason)"
        if countsAgainstHealth { loop.reportOutcome(provider: provider, failure: reason) }
        loop.logger.notice("upstream attempt failed", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
        nextAttempt()
    }

    private func giveUp() {
        if let answer = lastErrorAnswer {
            // An upstream answered: its own error is more useful than ours.
            relayWhole(head: answer.head, body: answer.body)
        } else {
            respond(.upstreamUnavailable(lastFailure))
        }
    }

    private func providerName(of candidate: Int) -> String {
        request.snapshot.providers[request.route.candidates[candidate].providerIndex].name
    }

    private var canRetry: Bool {
        attempts < config.retry.maxAttempts && tried.contains(false)
    }

    // MARK: - Upstream events

    func upstreamResponseHead(_ head: HTTPResponseHead) {
        guard case .awaitingHead(let connection, let candidate) = state else { return }
        let status = head.status.code
        loop.reportOutcome(provider: providerName(of: candidate), failure: status >= 500 ? "HTTP \(status)" : nil)
        if (status >= 500 || status == 429) && canRetry {
            state = .drainingRetryable(connection, candidate: candidate, head: head, body: ByteBuffer())
            return
        }
        let (isEventStream, contentLength) = ForwardedHeaders.inspectDownstream(head.headers)
        let tracker = isEventStream && status < 300 ? StreamCompletionTracker(request.api.row.streamCompletion) : nil
        observeUsage = status < 300
        state = .relaying(connection, candidate: candidate, tracker: tracker)
        // No attempt follows: the request's bytes can go now rather than at
        // the end of what may be a minutes-long stream.
        upstreamRequest = nil
        request.body = .sharedEmpty
        request.head.headers = HTTPHeaders()
        // A stream is chunked whatever its provider said: the gateway may
        // have to add an interruption event to it.
        handler.writeResponseHead(status: head.status, contentLength: isEventStream ? nil : contentLength, isEventStream: isEventStream) { buffer in
            ForwardedHeaders.downstreamResponse(head.headers, isEventStream: isEventStream) {
                buffer.writeHTTPHeader($0, $1)
            }
        }
        if !handler.isWritable { connection.setReadPaused(true) }
    }

    func upstreamResponseBody(_ buffer: ByteBuffer) {
        switch state {
        case .relaying(let connection, let candidate, var tracker):
            if tracker != nil {
                tracker!.observe(buffer)
                state = .relaying(connection, candidate: candidate, tracker: tracker)
            }
            if observeUsage { usage.observe(buffer) }
            handler.writeResponseBody(buffer)
        case .drainingRetryable(let connection, let candidate, let head, var body):
            // Error answers are small; keep at most 64 KiB of one.
            if body.readableBytes < 65536 {
                var part = buffer
                body.writeBuffer(&part)
            }
            state = .drainingRetryable(connection, candidate: candidate, head: head, body: body)
        default:
            break
        }
    }

    func upstreamReadComplete() {
        guard case .relaying(let connection, _, _) = state else { return }
        handler.flush()
        if !handler.isWritable { connection.setReadPaused(true) }
    }

    func upstreamResponseEnd(connection: UpstreamConnection, reusable: Bool) {
        switch state {
        case .relaying(_, _, let tracker):
            loop.pool.release(connection, reusable: reusable)
            if let tracker, !tracker.isComplete {
                let detail = tracker.completion == .doneSentinel
                    ? "the response ended without 'data: [DONE]'" : "the response ended without a chunk with a finishReason"
                handler.writeResponseBody(ByteBuffer(string: request.api.row.dialect.interruptionEvent(detail)))
            }
            finish()
            handler.finishResponse()
        case .drainingRetryable(_, let candidate, let head, let body):
            loop.pool.release(connection, reusable: reusable)
            lastErrorAnswer = (head, body)
            attemptFailed(candidate: candidate, reason: "HTTP \(head.status.code)", countsAgainstHealth: false)
        default:
            loop.pool.release(connection, reusable: reusable)
        }
    }

    func upstreamFailed(_ error: any Error) {
        switch state {
        case .awaitingHead(let connection, let candidate):
            if connection.completedExchanges > 0 && !staleConnectionRetried {
                // A reused connection the upstream closed as we sent on it:
                // nothing was processed, so send again on a new connection.
                staleConnectionRetried = true
                connect(candidate: candidate, fresh: true)
                return
            }
            attemptFailed(candidate: candidate, reason: "\(error)")
        case .drainingRetryable(_, let candidate, let head, _):
            attemptFailed(candidate: candidate, reason: "HTTP \(head.status.code), then \(error)", countsAgainstHealth: false)
        case .relaying(_, let candidate, let tracker):
            loop.reportOutcome(provider: providerName(of: candidate), failure: "connection lost mid-response: \(error)")
            endInterrupted(tracker: tracker, reason: "the connection to the provider was lost")
        default:
            break
        }
    }

    /// Called by the loop's deadline timer (the slot is already gone).
    func deadlinePassed() {
        deadline = nil
        switch state {
        case .connecting(let candidate, let pending):
            loop.reportOutcome(provider: providerName(of: candidate), failure: "timeout")
            respond(.upstreamTimeout(seconds: config.server.requestTimeoutSeconds))
            // After the answer: the cancelled connect reports a failure at once.
            pending?.cancel()
        case .awaitingHead(let connection, let candidate), .drainingRetryable(let connection, let candidate, _, _):
            connection.abandon()
            loop.reportOutcome(provider: providerName(of: candidate), failure: "timeout")
            respond(.upstreamTimeout(seconds: config.server.requestTimeoutSeconds))
        case .relaying(let connection, _, let tracker):
            connection.abandon()
            endInterrupted(tracker: tracker, reason: "request_timeout_seconds (\(OpenAIError.formatSeconds(config.server.requestTimeoutSeconds)) s) passed")
        case .finished:
            break
        }
    }

    /// A response cut short after bytes reached the client: a stream gets the
    /// spec's error event and a clean end; any other body cannot be
    /// completed, so the client connection is closed to show the truncation.
    private func endInterrupted(tracker: StreamCompletionTracker?, reason: String) {
        finish()
        if handler.isEventStreamResponse {
            handler.writeResponseBody(ByteBuffer(string: request.api.row.dialect.interruptionEvent(reason)))
            handler.finishResponse()
        } else {
            handler.abortResponse()
        }
    }

    // MARK: - Answers

    private func respond(_ error: OpenAIError) {
        finish()
        handler.sendError(error)
    }

    private func relayWhole(head: HTTPResponseHead, body: ByteBuffer) {
        finish()
        handler.writeResponseHead(status: head.status, contentLength: body.readableBytes, isEventStream: false) { buffer in
            ForwardedHeaders.downstreamResponse(head.headers, isEventStream: false) { buffer.writeHTTPHeader($0, $1) }
        }
        handler.writeResponseBody(body)
        handler.finishResponse()
    }

    private func answerFromMock(upstreamModel: String) {
        let response = MockProvider.respond(to: request.api, body: request.body, upstreamModel: upstreamModel)
        mockUsage = response.usage
        let isEventStream = response.contentType == "text/event-stream"
        finish()
        handler.writeResponseHead(
            status: .ok, contentLength: isEventStream ? nil : response.chunks.reduce(0) { $0 + $1.utf8.count }, isEventStream: isEventStream
        ) { buffer in
            buffer.writeHTTPHeader("Content-Type", response.contentType)
        }
        for chunk in response.chunks {
            handler.writeResponseBody(ByteBuffer(string: chunk))
            if isEventStream { handler.flush() }
        }
        handler.finishResponse()
    }

    private func finish() {
        if case .finished = state, deadline == nil { return }
        state = .finished
        if let deadline { loop.requestDeadlines.remove(deadline) }
        deadline = nil
        let usage = mockUsage ?? self.usage.usage
        if let total = usage?.total { request.limiter?.charge(tokens: total) }
        let series = providerIndex.map { index in
            request.routeEntry.series(api: request.api, providerIndex: index, provider: providerName ?? "", metrics: loop.metrics)
        }
        handler.noteUpstream(provider: providerName ?? "", retries: retries, usage: usage, series: series)
    }
}
