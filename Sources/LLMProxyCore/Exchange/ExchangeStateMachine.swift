import NIOCore
import NIOHTTP1

/// The decisions of one proxied request, from its first attempt to its last
/// byte, as a value: each event returns the one `Action` to perform, and
/// `ProxyExchange` only performs it (as AsyncHTTPClient's
/// `HTTPRequestStateMachine` and its channel handler divide the work).
///
/// What it decides: which attempt comes next and when the retry budget
/// (`retry.max_attempts`, untried candidates) is spent; that a reused
/// keep-alive connection the provider closed as the request went out is
/// retried once on a fresh connection without counting as an attempt; that a
/// retryable answer (5xx, 429) is read to its end and kept, so the client
/// gets the provider's own error if no later attempt does better; that once
/// the head went to the client nothing is retried; whether a stream ended
/// complete (its API's `StreamCompletion`); what a deadline or a departed
/// client means in each state; and, for a call naming a response whose
/// provider is not known (`movesOnAtNotFound`), that a 404 means "not
/// here": the next candidate is asked, and the 404 counts neither against
/// the provider nor against the retry budget.
///
///     var machine = ExchangeStateMachine(candidates: 2, maxAttempts: 2, streamCompletion: .doneSentinel)
///     machine.nextAttempt()                 // .pickCandidate
///     machine.candidatePicked(0)            // .connect(candidate: 0, fresh: false, isRetry: false)
///     machine.connectFailed("refused")      // .attemptFailed(candidate: 0, ...)
package struct ExchangeStateMachine {
    package enum Action: Equatable {
        /// Pick an untried candidate (see `tried`) and report it with `candidatePicked`.
        case pickCandidate
        /// Get a connection to `candidate`: an idle pooled one unless `fresh`,
        /// else a new one; report it with `connectionReady` or `connectFailed`.
        /// `isRetry`: an attempt after a failed one (counted in the retry metric).
        case connect(candidate: Int, fresh: Bool, isRetry: Bool)
        /// Send the request on the connection in hand.
        case sendRequest
        /// Report `candidate`'s outcome (`healthFailure`, nil: success) and
        /// relay the head just received to the client, framed as an event
        /// stream or with `contentLength` bytes.
        case relayHead(isEventStream: Bool, contentLength: Int?, candidate: Int, healthFailure: String?)
        /// Report `candidate`'s outcome and keep reading the retryable answer.
        case readRetryableAnswer(candidate: Int, healthFailure: String?)
        /// Relay the bytes just received to the client.
        case forwardBody
        /// Return the connection to its pool (`reusable`), add `interruption`
        /// (an incomplete stream's event) when set, and end the response.
        case finishRelay(reusable: Bool, interruption: String?)
        /// This attempt failed: release the connection if one is held (to
        /// the pool when `reusable`), report the failure when it
        /// `countsAgainstHealth`, then ask for `nextAttempt()`. `reason` is
        /// for people (logs, the 502's message), `kind` for the attempt's span.
        case attemptFailed(candidate: Int, reason: String, kind: FailureKind, countsAgainstHealth: Bool, reusable: Bool)
        /// No attempt is left: answer with the last provider's own error
        /// answer when one was read, else 502 naming the last failure (nil:
        /// no candidate was tried).
        case giveUp(lastAnswer: BufferedAnswer?, lastFailure: Failure?)
        /// The deadline passed before the answer began: drop what is in
        /// flight (a connect or a connection), report `candidate` timed out,
        /// and answer 504.
        case timeout(candidate: Int, error: OpenAIError)
        /// The answer is cut after bytes reached the client: drop the
        /// connection if `abandon`, report `candidate`'s `healthFailure` if set, and end
        /// the response with the dialect's interruption event (a stream) or
        /// by closing (any other body).
        case interrupt(reason: String, candidate: Int, healthFailure: String?, abandon: Bool)
        /// The client left: drop whatever is in flight.
        case cancel
        case none
    }

    package struct Failure: Equatable {
        package var candidate: Int
        package var reason: String
    }

    /// How an attempt failed.
    package enum FailureKind: Equatable {
        /// The connection could not be made.
        case connect
        /// The provider has `credentials` and no usable token.
        case noCredential
        /// The provider answered with this status (retryable, or a 404 moved on from).
        case status(UInt)
        /// The connection failed or closed before the answer's head.
        case connectionLost
    }

    /// A provider's error answer, read whole to be passed on if no later attempt does better.
    package struct BufferedAnswer: Equatable {
        package var head: HTTPResponseHead
        package var body: ByteBuffer
    }

    private enum State {
        case idle
        case connecting(candidate: Int)
        case awaitingHead(candidate: Int, reused: Bool)
        case readingRetryable(candidate: Int, head: HTTPResponseHead, body: ByteBuffer)
        case relaying(candidate: Int, tracker: StreamCompletionTracker?)
        case finished
    }

    private var state = State.idle
    /// By candidate index: tried in this exchange.
    package private(set) var tried: [Bool]
    package private(set) var attempts = 0
    /// Attempts after the first.
    package private(set) var retries = 0
    private let maxAttempts: Int
    private let streamCompletion: StreamCompletion
    private let requestTimeoutSeconds: Double
    private let movesOnAtNotFound: Bool
    /// The last attempt ended in a 404 that moved on: the next is not a retry.
    private var movedOnFromNotFound = false
    private var staleConnectionRetried = false
    private var lastFailure: Failure?
    private var lastAnswer: BufferedAnswer?
    /// Error answers are small; keep at most this much of one.
    package static let bufferedAnswerLimit = 65536

    package init(
        candidates: Int, maxAttempts: Int, streamCompletion: StreamCompletion, requestTimeoutSeconds: Double, movesOnAtNotFound: Bool = false
    ) {
        tried = Array(repeating: false, count: candidates)
        self.maxAttempts = maxAttempts
        self.movesOnAtNotFound = movesOnAtNotFound
        self.streamCompletion = streamCompletion
        self.requestTimeoutSeconds = requestTimeoutSeconds
    }

    /// Bytes are going to the client.
    package var isRelaying: Bool {
        if case .relaying = state { return true }
        return false
    }

    package var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: - Attempts

    /// The first attempt, and the next one after a failure.
    package mutating func nextAttempt() -> Action {
        guard attempts < maxAttempts, tried.contains(false) else { return giveUp() }
        return .pickCandidate
    }

    /// The caller's pick among the untried candidates; nil when it found none.
    package mutating func candidatePicked(_ candidate: Int?) -> Action {
        guard let candidate else { return giveUp() }
        precondition(!tried[candidate], "candidate \(candidate) was already tried")
        let isRetry = attempts > 0 && !movedOnFromNotFound
        movedOnFromNotFound = false
        if isRetry { retries += 1 }
        attempts += 1
        tried[candidate] = true
        staleConnectionRetried = false
        state = .connecting(candidate: candidate)
        return .connect(candidate: candidate, fresh: false, isRetry: isRetry)
    }

    /// A connection is in hand; `reused`: it carried earlier exchanges.
    package mutating func connectionReady(reused: Bool) -> Action {
        guard case .connecting(let candidate) = state else { return .none }
        state = .awaitingHead(candidate: candidate, reused: reused)
        return .sendRequest
    }

    package mutating func connectFailed(_ reason: String) -> Action {
        guard case .connecting(let candidate) = state else { return .none }
        return failed(candidate: candidate, reason: "connect error: \(reason)", kind: .connect, countsAgainstHealth: true, reusable: false)
    }

    /// The provider has `credentials` but no usable token: the attempt ends
    /// before anything is sent. Not held against its health: the renewal
    /// already counts it down, and comes back with the next token.
    package mutating func credentialUnavailable() -> Action {
        guard case .connecting(let candidate) = state else { return .none }
        return failed(
            candidate: candidate, reason: "no valid token (its credentials' renewal is failing)", kind: .noCredential, countsAgainstHealth: false, reusable: false)
    }

    // MARK: - The provider's answer

    package mutating func responseHead(_ head: HTTPResponseHead, isEventStream: Bool, contentLength: Int?) -> Action {
        guard case .awaitingHead(let candidate, _) = state else { return .none }
        let status = head.status.code
        let healthFailure = status >= 500 ? "HTTP \(status)" : nil
        let retryable = (status >= 500 || status == 429) && attempts < maxAttempts
        let notHere = status == 404 && movesOnAtNotFound
        if retryable || notHere, tried.contains(false) {
            state = .readingRetryable(candidate: candidate, head: head, body: ByteBuffer())
            return .readRetryableAnswer(candidate: candidate, healthFailure: healthFailure)
        }
        let tracker = isEventStream && status < 300 ? StreamCompletionTracker(streamCompletion) : nil
        state = .relaying(candidate: candidate, tracker: tracker)
        return .relayHead(isEventStream: isEventStream, contentLength: contentLength, candidate: candidate, healthFailure: healthFailure)
    }

    package mutating func responseBody(_ buffer: ByteBuffer) -> Action {
        switch state {
        case .relaying(let candidate, var tracker):
            if tracker != nil {
                // Out of the state while it changes, so the tracker is not copied.
                state = .idle
                tracker!.observe(buffer)
                state = .relaying(candidate: candidate, tracker: tracker)
            }
            return .forwardBody
        case .readingRetryable(let candidate, let head, var body):
            state = .idle
            if body.readableBytes < Self.bufferedAnswerLimit {
                var part = buffer
                body.writeBuffer(&part)
            }
            state = .readingRetryable(candidate: candidate, head: head, body: body)
            return .none
        case .idle, .connecting, .awaitingHead, .finished:
            return .none
        }
    }

    package mutating func responseEnd(reusable: Bool) -> Action {
        switch state {
        case .relaying(_, let tracker):
            state = .finished
            var interruption: String?
            if let tracker, !tracker.isComplete {
                switch tracker.completion {
                case .doneSentinel: interruption = "the response ended without 'data: [DONE]'"
                case .finishReason: interruption = "the response ended without a chunk with a finishReason"
                case .messageStop: interruption = "the response ended without a message_stop event"
                case .responseTerminal: interruption = "the response ended without a response.completed event"
                }
            }
            return .finishRelay(reusable: reusable, interruption: interruption)
        case .readingRetryable(let candidate, let head, let body):
            lastAnswer = BufferedAnswer(head: head, body: body)
            if head.status.code == 404 && movesOnAtNotFound {
                // Not this provider's response: the attempt is given back.
                attempts -= 1
                movedOnFromNotFound = true
                return failed(candidate: candidate, reason: "HTTP 404, not created here", kind: .status(404), countsAgainstHealth: false, reusable: reusable)
            }
            return failed(candidate: candidate, reason: "HTTP \(head.status.code)", kind: .status(head.status.code), countsAgainstHealth: false, reusable: reusable)
        case .idle, .connecting, .awaitingHead, .finished:
            return .none
        }
    }

    /// The connection failed or closed before the response ended.
    package mutating func connectionFailed(_ reason: String) -> Action {
        switch state {
        case .awaitingHead(let candidate, let reused):
            if reused && !staleConnectionRetried {
                // A kept-alive connection the provider closed as the request
                // went out: nothing was processed, so send it again on a new
                // connection; the same attempt.
                staleConnectionRetried = true
                state = .connecting(candidate: candidate)
                return .connect(candidate: candidate, fresh: true, isRetry: false)
            }
            return failed(candidate: candidate, reason: reason, kind: .connectionLost, countsAgainstHealth: true, reusable: false)
        case .readingRetryable(let candidate, let head, _):
            return failed(
                candidate: candidate, reason: "HTTP \(head.status.code), then \(reason)", kind: .status(head.status.code), countsAgainstHealth: false,
                reusable: false)
        case .relaying(let candidate, _):
            state = .finished
            return .interrupt(
                reason: "the connection to the provider was lost", candidate: candidate,
                healthFailure: "connection lost mid-response: \(reason)", abandon: false)
        case .idle, .connecting, .finished:
            return .none
        }
    }

    // MARK: - Deadline and client

    /// `server.request_timeout_seconds` passed.
    package mutating func deadlinePassed() -> Action {
        switch state {
        case .connecting(let candidate), .awaitingHead(let candidate, _), .readingRetryable(let candidate, _, _):
            state = .finished
            return .timeout(candidate: candidate, error: .upstreamTimeout(seconds: requestTimeoutSeconds))
        case .relaying(let candidate, _):
            state = .finished
            let seconds = OpenAIError.formatSeconds(requestTimeoutSeconds)
            return .interrupt(reason: "request_timeout_seconds (\(seconds) s) passed", candidate: candidate, healthFailure: nil, abandon: true)
        case .idle, .finished:
            return .none
        }
    }

    /// The client went away.
    package mutating func clientGone() -> Action {
        switch state {
        case .finished:
            return .none
        case .idle, .connecting, .awaitingHead, .readingRetryable, .relaying:
            state = .finished
            return .cancel
        }
    }

    // MARK: -

    private mutating func failed(candidate: Int, reason: String, kind: FailureKind, countsAgainstHealth: Bool, reusable: Bool) -> Action {
        lastFailure = Failure(candidate: candidate, reason: reason)
        state = .idle
        return .attemptFailed(candidate: candidate, reason: reason, kind: kind, countsAgainstHealth: countsAgainstHealth, reusable: reusable)
    }

    private mutating func giveUp() -> Action {
        state = .finished
        return .giveUp(lastAnswer: lastAnswer, lastFailure: lastFailure)
    }
}
