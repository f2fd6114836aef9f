import NIOCore
import NIOHTTP1

/// The decisions of one client connection, as a value: each event returns
/// the `Action` to perform and `GatewayHandler` only performs it, as NIO's
/// `HTTPServerPipelineHandler` and AsyncHTTPClient's
/// `HTTP1ConnectionStateMachine` do.
///
/// What it decides:
/// - **Pipelining.** Reads flow freely; only when a client really sends a
///   request before the previous answer is done is that request queued and
///   reading held until the answer is out, so answers keep their order and
///   memory stays bounded (NIO's pipelining helper stops and restarts
///   reading around every response instead: two `epoll_ctl` calls each).
/// - **Body limit.** A body past `max_body_bytes` is answered 413 at once and
///   the connection closed: reading the rest would be buffering it.
/// - **Refusals.** A request refused from its head (key, path, declared
///   length) is answered once its body has been read and dropped.
/// - **Keep-alive and drain.** Whether the connection stays open after the
///   answer; once the gateway drains, an idle connection closes at once and a
///   busy one after its answer.
/// - **Streamed uploads.** A request answered before its body is all in
/// (a multipart upload whose `model` field was found): the rest of the body
/// goes to the exchange part by part, reads pause while the provider cannot
/// take more, and an answer that ends first closes the connection (the
/// unread rest of the body cannot be told from a next request).
/// - **Idle and stalled clients, parse errors, `Expect: 100-continue`.**
///
/// Actions carry no request bytes (the head or body part is the one just
/// passed in, or the one `nextQueued` returns) and no strings: they are
/// plain values, made and dropped for free on every request.
///
///     var machine = ClientConnectionStateMachine()
///     machine.channelRead(.head(head))      // .admit
///     machine.admitted(bodyLimit: 1024, expectsContinue: false)
///     machine.channelRead(.end(nil))        // .answer
package struct ClientConnectionStateMachine {
    package enum Action: Equatable {
        case none
        /// Pass the read on to the socket.
        case read
        /// The request head just read arrived: decide what can be decided
        /// from it and report `admitted` or `refused`.
        case admit
        /// The body part just read belongs to the admitted request.
        case appendBody
        /// The admitted request is complete: answer it.
        case answer
        /// The body part just read belongs to a request already being
        /// answered (`bodyStreamingStarted`): pass it on.
        case forwardBody
        /// That request's body is all in.
        case bodyEnded
        /// Answer with this error (the connection closes after it unless
        /// `keepAlive` still holds).
        case answerError(ClientError)
        /// The client expects `100 Continue` before it sends the body.
        case sendContinue
        /// Close the connection now.
        case close
        /// Serve the requests queued behind the answer, outside the current
        /// callback (call `nextQueued` until it returns nil).
        case resumeQueued
    }

    /// The errors the connection itself answers.
    package enum ClientError: Equatable {
        /// The refusal its head got (`refused`), now that the body is read.
        case refusal
        /// The body passed `max_body_bytes`.
        case bodyTooLarge(limit: Int)
        /// The client stalled mid-request.
        case requestTimeout
        /// NIO's parser refused the bytes.
        case invalidHTTP
    }

    private enum Phase {
        /// Between requests.
        case idle
        /// A head is being admitted (`admitted` or `refused` comes next).
        case admitting
        /// Reading an admitted request's body.
        case receiving(bodyBytes: Int, limit: Int)
        /// Reading the body of a request already being answered.
        case streaming(bodyBytes: Int, limit: Int)
        /// Reading and dropping the body of a request refused from its head.
        case discarding
        /// The answer is being produced.
        case answering
    }

    private var phase = Phase.idle
    /// Whether the connection stays open after the current answer.
    package private(set) var keepAlive = true
    /// The gateway is draining: no new request keeps a connection open.
    package private(set) var draining = false
    /// A request is between its head and the end of its answer.
    package private(set) var requestInFlight = false
    /// The current answer's head is written (an error can no longer replace it).
    package private(set) var responseStarted = false
    /// Parts of pipelined requests that arrived while an answer was under way.
    /// Small at first: most clients never pipeline, and 10,000 open
    /// connections would otherwise hold 16 empty slots each.
    private var queued = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 2)
    private var readsHeld = false
    private var readPending = false
    /// A streamed upload's provider cannot take more for now.
    private var uploadPaused = false

    package init() {}

    /// An answer is being produced for the current request.
    package var isAnswering: Bool {
        if case .answering = phase { return true }
        return false
    }

    /// The connection waits on its client (no answer under way): the moment
    /// for the client idle timeout to run.
    package var awaitsClient: Bool { !isAnswering }

    // MARK: - Reading

    package mutating func channelRead(_ part: HTTPServerRequestPart) -> Action {
        if isAnswering || !queued.isEmpty {
            queued.append(part)
            readsHeld = true
            return .none
        }
        return process(part)
    }

    /// The pipeline asks for more bytes.
    package mutating func read() -> Action {
        if readsHeld || uploadPaused {
            readPending = true
            return .none
        }
        return .read
    }

    /// The next queued part and its action once an answer is done; nil
    /// when the queue is empty or another answer began (then
    /// `responseFinished` resumes again).
    package mutating func nextQueued() -> (action: Action, part: HTTPServerRequestPart?)? {
        if !queued.isEmpty, !isAnswering {
            let part = queued.removeFirst()
            return (process(part), part)
        }
        guard queued.isEmpty, readsHeld, !uploadPaused else { return nil }
        readsHeld = false
        if readPending {
            readPending = false
            return (.read, nil)
        }
        return nil
    }

    private mutating func process(_ part: HTTPServerRequestPart) -> Action {
        switch part {
        case .head(let head):
            guard case .idle = phase else { return .none }
            keepAlive = head.isKeepAlive && !draining
            requestInFlight = true
            responseStarted = false
            phase = .admitting
            return .admit
        case .body(let buffer):
            switch phase {
            case .receiving(let bodyBytes, let limit), .streaming(let bodyBytes, let limit):
                let total = bodyBytes + buffer.readableBytes
                if total > limit {
                    keepAlive = false
                    phase = .answering
                    return .answerError(.bodyTooLarge(limit: limit))
                }
                if case .streaming = phase {
                    phase = .streaming(bodyBytes: total, limit: limit)
                    return .forwardBody
                }
                phase = .receiving(bodyBytes: total, limit: limit)
                return .appendBody
            case .discarding, .idle, .admitting, .answering:
                return .none
            }
        case .end:
            switch phase {
            case .receiving:
                phase = .answering
                return .answer
            case .discarding:
                phase = .answering
                return .answerError(.refusal)
            case .streaming:
                phase = .answering
                return .bodyEnded
            case .idle, .admitting, .answering:
                return .none
            }
        }
    }

    // MARK: - Admission

    /// The head passed: read a body of at most `bodyLimit` bytes.
    package mutating func admitted(bodyLimit: Int, expectsContinue: Bool) -> Action {
        guard case .admitting = phase else { return .none }
        phase = .receiving(bodyBytes: 0, limit: bodyLimit)
        return expectsContinue ? .sendContinue : .none
    }

    /// The request is answered now, before the rest of its body: what
    /// arrives from here on is `.forwardBody`, then `.bodyEnded`.
    package mutating func bodyStreamingStarted() {
        guard case .receiving(let bodyBytes, let limit) = phase else { return }
        phase = .streaming(bodyBytes: bodyBytes, limit: limit)
    }

    /// What the body showed so far is refused (a malformed upload): the
    /// rest is read and dropped, then the refusal answered and the connection
    /// closed. Answering at once and closing would reset the connection under
    /// the client's unread bytes, and it would never see the answer.
    package mutating func bodyRefused() {
        guard case .receiving = phase else { return }
        keepAlive = false
        phase = .discarding
    }

    /// A streamed upload's provider stopped (or resumed) taking bytes.
    package mutating func uploadReadsPaused(_ paused: Bool) -> Action {
        uploadPaused = paused
        if !paused && !readsHeld && readPending {
            readPending = false
            return .read
        }
        return .none
    }

    /// The head is refused; the refusal is answered once the body is read
    /// (`.answerError(.refusal)`). `close`: the body is not worth reading
    /// (413 by its declared length), so the connection closes after the answer.
    package mutating func refused(close: Bool) {
        guard case .admitting = phase else { return }
        if close { keepAlive = false }
        phase = .discarding
    }

    // MARK: - Answering

    /// The answer's head is out; `keepAlive` is what it told the client.
    package mutating func responseHeadWritten(keepAlive: Bool) {
        responseStarted = true
        self.keepAlive = keepAlive
    }

    /// The answer is complete (or aborted).
    package mutating func responseFinished() -> Action {
        if case .streaming = phase { keepAlive = false }
        // A read the upload's pause held back is the next request's.
        let heldRead = uploadPaused && readPending && !readsHeld
        uploadPaused = false
        phase = .idle
        requestInFlight = false
        if !keepAlive || draining { return .close }
        if readsHeld || !queued.isEmpty { return .resumeQueued }
        if heldRead {
            readPending = false
            return .read
        }
        return .none
    }

    /// The answer is cut short: the connection cannot carry another request.
    package mutating func responseAborted() {
        keepAlive = false
        uploadPaused = false
        phase = .idle
        requestInFlight = false
    }

    // MARK: - Timeouts, errors, drain

    /// `client_idle_timeout_seconds` passed since the client's last bytes.
    package mutating func idleTimeout() -> Action {
        switch phase {
        case .idle:
            // A kept-alive connection with nothing to do, or a client that
            // never finished its request head.
            return .close
        case .receiving, .discarding, .admitting, .streaming:
            keepAlive = false
            phase = .answering
            return .answerError(.requestTimeout)
        case .answering:
            // Waiting on the provider, not on the client.
            return .none
        }
    }

    /// NIO's parser refused the bytes (it reads no more of them).
    package mutating func parseError() -> Action {
        keepAlive = false
        if !responseStarted, !isAnswering {
            // Say so before closing, in OpenAI's shape, as long as no answer
            // is under way; pipelined garbage behind a request only closes the
            // connection after that request's answer.
            phase = .answering
            return .answerError(.invalidHTTP)
        }
        return isAnswering ? .none : .close
    }

    /// Another error on the connection.
    package mutating func connectionError() -> Action {
        keepAlive = false
        return isAnswering ? .none : .close
    }

    /// The gateway drains: an idle connection closes now, a busy one after
    /// its answer (which says `Connection: close` unless its head is out).
    package mutating func drain() -> Action {
        draining = true
        if !responseStarted { keepAlive = false }
        if case .idle = phase, !requestInFlight { return .close }
        return .none
    }
}
