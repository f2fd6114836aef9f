@testable import LLMProxyCore
import NIOCore
import NIOHTTP1
import Testing

/// The client connection's transitions, as events with no sockets or clock.
@Suite struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnectionStateMachine

    static func head(_ uri: String = "/v1/chat/completions", version: HTTPVersion = .http1_1, headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .POST, uri: uri, headers: HTTPHeaders(headers))
    }

    @Test func anAdmittedRequestIsReadAndAnsweredAndTheConnectionKeptAlive() {
        var machine = Machine()
        let head = Self.head()
        #expect(machine.channelRead(.head(head)) == .admit)
        #expect(machine.requestInFlight && machine.awaitsClient)
        #expect(machine.admitted(bodyLimit: 10, expectsContinue: false) == .none)
        let body = ByteBuffer(string: "{}")
        #expect(machine.channelRead(.body(body)) == .appendBody)
        #expect(machine.channelRead(.end(nil)) == .answer)
        #expect(machine.isAnswering && !machine.awaitsClient)
        machine.responseHeadWritten(keepAlive: true)
        #expect(machine.responseFinished() == .none)
        #expect(!machine.requestInFlight && machine.keepAlive)
    }

    @Test func expectContinueIsAnsweredForAnAdmittedHead() {
        var machine = Machine()
        _ = machine.channelRead(.head(Self.head(headers: [("Expect", "100-continue")])))
        #expect(machine.admitted(bodyLimit: 10, expectsContinue: true) == .sendContinue)
        // Admission is decided once per head.
        #expect(machine.admitted(bodyLimit: 10, expectsContinue: true) == .none)
    }

    @Test func aRefusedHeadIsAnsweredAfterItsBodyIsDropped() {
        var machine = Machine()
        _ = machine.channelRead(.head(Self.head()))
        machine.refused(close: false)
        #expect(machine.channelRead(.body(ByteBuffer(string: "dropped"))) == .none)
        #expect(machine.channelRead(.end(nil)) == .answerError(.refusal))
        #expect(machine.keepAlive)
        // A body refused by its declared length closes the connection after the answer.
        var tooLarge = Machine()
        _ = tooLarge.channelRead(.head(Self.head()))
        tooLarge.refused(close: true)
        #expect(tooLarge.channelRead(.end(nil)) == .answerError(.refusal))
        tooLarge.responseHeadWritten(keepAlive: tooLarge.keepAlive)
        #expect(tooLarge.responseFinished() == .close)
    }

    @Test func aBodyPastTheLimitIsAnswered413AtOnceAndClosed() {
        var machine = Machine()
        _ = machine.channelRead(.head(Self.head()))
        _ = machine.admitted(bodyLimit: 8, expectsContinue: false)
        #expect(machine.channelRead(.body(ByteBuffer(string: "12345"))) == .appendBody)
        #expect(machine.channelRead(.body(ByteBuffer(string: "6789"))) == .answerError(.bodyTooLarge(limit: 8)))
        #expect(!machine.keepAlive)
        // What the client sends meanwhile waits; the answer closes.
        #expect(machine.channelRead(.body(ByteBuffer(string: "more"))) == .none)
        machine.responseHeadWritten(keepAlive: false)
        #expect(machine.responseFinished() == .close)
    }

    @Test func pipelinedRequestsWaitForTheAnswerAndReadsAreHeld() {
        var machine = Machine()
        _ = machine.channelRead(.head(Self.head()))
        _ = machine.admitted(bodyLimit: 100, expectsContinue: false)
        #expect(machine.channelRead(.end(nil)) == .answer)
        let second = Self.head("/v1/embeddings")
        // The next request arrives while the first is answered: queued, reads held.
        #expect(machine.channelRead(.head(second)) == .none)
        #expect(machine.channelRead(.end(nil)) == .none)
        #expect(machine.read() == .none)
        machine.responseHeadWritten(keepAlive: true)
        #expect(machine.responseFinished() == .resumeQueued)
        let queued = machine.nextQueued()
        #expect(queued?.action == .admit && queued?.part == .head(second))
        #expect(machine.admitted(bodyLimit: 100, expectsContinue: false) == .none)
        #expect(machine.nextQueued()?.action == .answer)
        // The queue is empty: reading resumes (the read that waited), while
        // the second answer is produced; what arrives meanwhile is queued again.
        #expect(machine.nextQueued()?.action == .read)
        #expect(machine.nextQueued() == nil)
        #expect(machine.read() == .read)
        let third = Self.head("/v1/completions")
        #expect(machine.channelRead(.head(third)) == .none)
        machine.responseHeadWritten(keepAlive: true)
        #expect(machine.responseFinished() == .resumeQueued)
        #expect(machine.nextQueued()?.action == .admit)
    }

    @Test func keepAliveFollowsTheClientAndTheAnswer() {
        var http10 = Machine()
        _ = http10.channelRead(.head(Self.head(version: .http1_0)))
        #expect(!http10.keepAlive)
        var close = Machine()
        _ = close.channelRead(.head(Self.head(headers: [("Connection", "close")])))
        #expect(!close.keepAlive)
        var writerSaysClose = Machine()
        _ = writerSaysClose.channelRead(.head(Self.head()))
        _ = writerSaysClose.admitted(bodyLimit: 1, expectsContinue: false)
        _ = writerSaysClose.channelRead(.end(nil))
        writerSaysClose.responseHeadWritten(keepAlive: false)
        #expect(writerSaysClose.responseFinished() == .close)
    }

    @Test func drainClosesAnIdleConnectionAtOnceAndABusyOneAfterItsAnswer() {
        var idle = Machine()
        #expect(idle.drain() == .close)
        var busy = Machine()
        _ = busy.channelRead(.head(Self.head()))
        _ = busy.admitted(bodyLimit: 1, expectsContinue: false)
        _ = busy.channelRead(.end(nil))
        #expect(busy.drain() == .none)
        #expect(!busy.keepAlive)
        busy.responseHeadWritten(keepAlive: busy.keepAlive)
        #expect(busy.responseFinished() == .close)
        // A stream whose head went out with keep-alive still closes at its end.
        var streaming = Machine()
        _ = streaming.channelRead(.head(Self.head()))
        _ = streaming.admitted(bodyLimit: 1, expectsContinue: false)
        _ = streaming.channelRead(.end(nil))
        streaming.responseHeadWritten(keepAlive: true)
        #expect(streaming.drain() == .none)
        #expect(streaming.responseFinished() == .close)
        // After draining, a new request does not keep the connection.
        var later = Machine()
        _ = later.drain()
        _ = later.channelRead(.head(Self.head()))
        #expect(!later.keepAlive)
    }

    @Test func theIdleTimeoutClosesAWaitingConnectionAndAnswersAStalledRequest() {
        var idle = Machine()
        #expect(idle.idleTimeout() == .close)
        var stalled = Machine()
        _ = stalled.channelRead(.head(Self.head()))
        _ = stalled.admitted(bodyLimit: 100, expectsContinue: false)
        _ = stalled.channelRead(.body(ByteBuffer(string: "{\"mo")))
        #expect(stalled.idleTimeout() == .answerError(.requestTimeout))
        #expect(!stalled.keepAlive)
        var answering = Machine()
        _ = answering.channelRead(.head(Self.head()))
        _ = answering.admitted(bodyLimit: 100, expectsContinue: false)
        _ = answering.channelRead(.end(nil))
        // Waiting on the provider, not on the client.
        #expect(answering.idleTimeout() == .none)
    }

    @Test func aParseErrorIsAnsweredUnlessAnAnswerIsUnderWay() {
        var fresh = Machine()
        #expect(fresh.parseError() == .answerError(.invalidHTTP))
        #expect(!fresh.keepAlive)
        var busy = Machine()
        _ = busy.channelRead(.head(Self.head()))
        _ = busy.admitted(bodyLimit: 100, expectsContinue: false)
        _ = busy.channelRead(.end(nil))
        // Pipelined garbage behind a request: the answer goes out, then the connection closes.
        #expect(busy.parseError() == .none)
        busy.responseHeadWritten(keepAlive: busy.keepAlive)
        #expect(busy.responseFinished() == .close)
        var other = Machine()
        #expect(other.connectionError() == .close)
    }
}
