@testable import LLMProxyCore
import NIOCore
import NIOHTTP1
import Testing

/// Every transition of an exchange that matters, driven as events with no
/// sockets and no clock.
@Suite struct ExchangeStateMachineTests {
    typealias Machine = ExchangeStateMachine

    static func machine(candidates: Int = 2, maxAttempts: Int = 2, completion: StreamCompletion = .doneSentinel) -> Machine {
        Machine(candidates: candidates, maxAttempts: maxAttempts, streamCompletion: completion, requestTimeoutSeconds: 30)
    }

    static func head(_ status: Int, _ headers: [(String, String)] = []) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers))
    }

    @Test func aSuccessfulAnswerIsRelayedAndTheConnectionReturned() {
        var machine = Self.machine()
        #expect(machine.nextAttempt() == .pickCandidate)
        #expect(machine.candidatePicked(1) == .connect(candidate: 1, fresh: false, isRetry: false))
        #expect(machine.connectionReady(reused: true) == .sendRequest)
        let head = Self.head(200)
        #expect(machine.responseHead(head, isEventStream: false, contentLength: 12)
            == .relayHead(isEventStream: false, contentLength: 12, candidate: 1, healthFailure: nil))
        #expect(machine.isRelaying)
        let body = ByteBuffer(string: "{\"ok\":true}\n")
        #expect(machine.responseBody(body) == .forwardBody)
        #expect(machine.responseEnd(reusable: true) == .finishRelay(reusable: true, interruption: nil))
        #expect(machine.isFinished && machine.retries == 0 && machine.attempts == 1)
    }

    @Test func aFailedConnectMovesToTheNextCandidateUntilTheBudgetIsSpent() {
        var machine = Self.machine(candidates: 3, maxAttempts: 2)
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        #expect(machine.connectFailed("refused") == .attemptFailed(candidate: 0, reason: "connect error: refused", kind: .connect, countsAgainstHealth: true, reusable: false))
        #expect(machine.tried == [true, false, false])
        #expect(machine.nextAttempt() == .pickCandidate)
        #expect(machine.candidatePicked(2) == .connect(candidate: 2, fresh: false, isRetry: true))
        _ = machine.connectFailed("refused again")
        // Two attempts spent, one candidate untried: the budget decides.
        #expect(machine.nextAttempt() == .giveUp(lastAnswer: nil, lastFailure: .init(candidate: 2, reason: "connect error: refused again")))
        #expect(machine.retries == 1 && machine.isFinished)
    }

    @Test func noCandidateLeftGivesUpWithNothingTried() {
        var machine = Self.machine()
        _ = machine.nextAttempt()
        #expect(machine.candidatePicked(nil) == .giveUp(lastAnswer: nil, lastFailure: nil))
    }

    @Test func aRetryableAnswerIsReadWholeAndPassedOnWhenNothingBetterCame() {
        var machine = Self.machine()
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        _ = machine.connectionReady(reused: false)
        let overloaded = Self.head(503)
        #expect(machine.responseHead(overloaded, isEventStream: false, contentLength: nil) == .readRetryableAnswer(candidate: 0, healthFailure: "HTTP 503"))
        #expect(machine.responseBody(ByteBuffer(string: "{\"error\":")) == .none)
        #expect(machine.responseBody(ByteBuffer(string: "\"busy\"}")) == .none)
        // Read to its end, so the connection stays reusable; not a health failure twice.
        #expect(machine.responseEnd(reusable: true) == .attemptFailed(candidate: 0, reason: "HTTP 503", kind: .status(503), countsAgainstHealth: false, reusable: true))
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(1)
        #expect(machine.connectFailed("refused") != .none)
        let buffered = Machine.BufferedAnswer(head: overloaded, body: ByteBuffer(string: "{\"error\":\"busy\"}"))
        #expect(machine.nextAttempt() == .giveUp(lastAnswer: buffered, lastFailure: .init(candidate: 1, reason: "connect error: refused")))
    }

    @Test func aRetryableAnswerIsPassedThroughWhenNoAttemptIsLeft() {
        for (candidates, maxAttempts) in [(1, 2), (2, 1)] {
            var machine = Self.machine(candidates: candidates, maxAttempts: maxAttempts)
            _ = machine.nextAttempt()
            _ = machine.candidatePicked(0)
            _ = machine.connectionReady(reused: false)
            let limited = Self.head(429, [("Retry-After", "3")])
            #expect(machine.responseHead(limited, isEventStream: false, contentLength: 2)
                == .relayHead(isEventStream: false, contentLength: 2, candidate: 0, healthFailure: nil))
        }
    }

    @Test func aBufferedAnswerKeepsAtMostItsLimit() {
        var machine = Self.machine()
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        _ = machine.connectionReady(reused: false)
        _ = machine.responseHead(Self.head(500), isEventStream: false, contentLength: nil)
        let chunk = ByteBuffer(repeating: 0x61, count: 40_000)
        for _ in 0..<5 { _ = machine.responseBody(chunk) }
        _ = machine.responseEnd(reusable: true)
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(1)
        _ = machine.connectFailed("x")
        guard case .giveUp(let answer?, _) = machine.nextAttempt() else {
            Issue.record("no buffered answer")
            return
        }
        #expect(answer.body.readableBytes == 80_000 && answer.body.readableBytes < Machine.bufferedAnswerLimit + chunk.readableBytes)
    }

    @Test func aReusedConnectionClosedUnderTheRequestIsRetriedOnceFreshAsTheSameAttempt() {
        var machine = Self.machine(candidates: 1, maxAttempts: 1)
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        _ = machine.connectionReady(reused: true)
        #expect(machine.connectionFailed("closed") == .connect(candidate: 0, fresh: true, isRetry: false))
        #expect(machine.attempts == 1 && machine.retries == 0)
        #expect(machine.connectionReady(reused: false) == .sendRequest)
        #expect(machine.connectionFailed("closed") == .attemptFailed(candidate: 0, reason: "closed", kind: .connectionLost, countsAgainstHealth: true, reusable: false))
        // A fresh connection that fails is an attempt failed, not another stale retry.
        var fresh = Self.machine(candidates: 1, maxAttempts: 1)
        _ = fresh.nextAttempt()
        _ = fresh.candidatePicked(0)
        _ = fresh.connectionReady(reused: false)
        #expect(fresh.connectionFailed("reset") == .attemptFailed(candidate: 0, reason: "reset", kind: .connectionLost, countsAgainstHealth: true, reusable: false))
    }

    @Test func streamsEndCompleteOnlyWithTheirAPIsSign() {
        let cases: [(StreamCompletion, String, Bool)] = [
            (.doneSentinel, "data: {\"i\":1}\n\ndata: [DONE]\n\n", true),
            (.doneSentinel, "data: {\"i\":1}\n\n", false),
            (.finishReason, "data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\r\n\r\n", true),
            (.finishReason, "data: {\"candidates\":[]}\r\n\r\n", false),
        ]
        for (completion, stream, complete) in cases {
            var machine = Self.machine(completion: completion)
            _ = machine.nextAttempt()
            _ = machine.candidatePicked(0)
            _ = machine.connectionReady(reused: false)
            _ = machine.responseHead(Self.head(200), isEventStream: true, contentLength: nil)
            _ = machine.responseBody(ByteBuffer(string: stream))
            guard case .finishRelay(true, let interruption) = machine.responseEnd(reusable: true) else {
                Issue.record("no finish")
                continue
            }
            #expect((interruption == nil) == complete, "\(completion): \(stream)")
        }
        // A stream answered with an error status is the provider's, not checked.
        var error = Self.machine(candidates: 1)
        _ = error.nextAttempt()
        _ = error.candidatePicked(0)
        _ = error.connectionReady(reused: false)
        _ = error.responseHead(Self.head(400), isEventStream: true, contentLength: nil)
        #expect(error.responseEnd(reusable: true) == .finishRelay(reusable: true, interruption: nil))
    }

    @Test func aConnectionLostMidAnswerInterruptsAndNeverRetries() {
        var machine = Self.machine(candidates: 2, maxAttempts: 2)
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        _ = machine.connectionReady(reused: true)
        _ = machine.responseHead(Self.head(200), isEventStream: true, contentLength: nil)
        #expect(machine.connectionFailed("reset")
            == .interrupt(reason: "the connection to the provider was lost", candidate: 0, healthFailure: "connection lost mid-response: reset", abandon: false))
        #expect(machine.isFinished && machine.attempts == 1)
    }

    @Test func theDeadlineMeansA504BeforeTheHeadAndAnInterruptionAfter() {
        for stage in 0..<3 {
            var machine = Self.machine()
            _ = machine.nextAttempt()
            _ = machine.candidatePicked(1)
            if stage >= 1 { _ = machine.connectionReady(reused: false) }
            if stage == 2 { _ = machine.responseHead(Self.head(502), isEventStream: false, contentLength: nil) }
            #expect(machine.deadlinePassed() == .timeout(candidate: 1, error: .upstreamTimeout(seconds: 30)), "stage \(stage)")
            #expect(machine.deadlinePassed() == .none)
        }
        var relaying = Self.machine()
        _ = relaying.nextAttempt()
        _ = relaying.candidatePicked(0)
        _ = relaying.connectionReady(reused: false)
        _ = relaying.responseHead(Self.head(200), isEventStream: true, contentLength: nil)
        #expect(relaying.deadlinePassed() == .interrupt(reason: "request_timeout_seconds (30 s) passed", candidate: 0, healthFailure: nil, abandon: true))
    }

    @Test func aClientThatLeavesCancelsOnceAndLateEventsDoNothing() {
        var machine = Self.machine()
        _ = machine.nextAttempt()
        _ = machine.candidatePicked(0)
        #expect(machine.clientGone() == .cancel)
        #expect(machine.clientGone() == .none)
        // The cancelled connect reports its failure at once: no new attempt.
        #expect(machine.connectFailed("cancelled") == .none)
        #expect(machine.connectionReady(reused: false) == .none)
        #expect(machine.responseHead(Self.head(200), isEventStream: false, contentLength: 0) == .none)
        #expect(machine.responseBody(ByteBuffer(string: "x")) == .none)
        #expect(machine.responseEnd(reusable: true) == .none)
        #expect(machine.connectionFailed("closed") == .none)
        #expect(machine.deadlinePassed() == .none)
    }
}
