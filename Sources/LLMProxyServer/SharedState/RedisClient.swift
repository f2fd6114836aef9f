import LLMProxyCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Why the store could not answer a call.
struct SharedStateFailure: Error, CustomStringConvertible {
    var description: String
}

/// One event loop's connection to the shared store (Redis or Valkey): RESP
/// over one TCP (or TLS) connection made on this loop, so every reply runs
/// its callback on the loop that asked, without a lock or a hop into Swift
/// concurrency. Commands are pipelined: each is written as it comes and the
/// loop's flush coalescer sends a batch's worth in one write; replies come
/// back in order, matched to a FIFO of callbacks.
///
/// No call waits longer than `timeout`: one timer watches the oldest call,
/// and a call past its time is answered with a failure and its callback
/// dropped, its late reply read and discarded when it comes. A connection
/// whose oldest unanswered call is long overdue (a store paused for
/// seconds) is dropped and made again. Connection state is
/// `RedisConnectionStateMachine`'s; this class performs its actions.
final class RedisClient {
    typealias Callback = (Result<RESPValue, SharedStateFailure>) -> Void

    enum Script {
        case admit
        case charge

        var text: String {
            switch self {
            case .admit: return SharedLimitScripts.admit
            case .charge: return SharedLimitScripts.charge
            }
        }
    }

    let url: RedisURL
    private let eventLoop: any EventLoop
    private let loopIndex: Int
    private let tls: TLSContextCache
    private let verifyTLS: Bool
    private let flushes: FlushCoalescer
    private let status: SharedStateStatus
    private let logger: Logger
    private(set) var timeout: TimeAmount
    private var machine = RedisConnectionStateMachine()
    private var channel: (any Channel)?
    private var context: ChannelHandlerContext?
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var reconnect: Scheduled<Void>?
    private var scriptSHAs: [String] = []
    private var latencySeconds: Double?
    private var repliesSincePublished = 0
    /// Stopped with calls still pending: closes once they are answered.
    private var closeWhenIdle = false
    /// The current connection's number: events of one already dropped are ignored.
    private var connectionID = 0

    private struct Pending {
        var deadline: NIODeadline
        var sentAt: NIODeadline
        /// nil once the call timed out: its reply is read and dropped.
        var callback: Callback?
    }

    init(
        url: RedisURL, timeout: TimeAmount, eventLoop: any EventLoop, loopIndex: Int, tls: TLSContextCache, verifyTLS: Bool,
        flushes: FlushCoalescer, status: SharedStateStatus, logger: Logger
    ) {
        self.url = url
        self.timeout = timeout
        self.eventLoop = eventLoop
        self.loopIndex = loopIndex
        self.tls = tls
        self.verifyTLS = verifyTLS
        self.flushes = flushes
        self.status = status
        self.logger = logger
    }

    var isReady: Bool { machine.isReady }

    func start() { run(machine.start()) }

    func updateTimeout(_ timeout: TimeAmount) { self.timeout = timeout }

    /// No new calls; those pending are answered first (a reload that
    /// replaced the store's URL lets in-flight decisions finish).
    func stop() {
        reconnect?.cancel()
        reconnect = nil
        if pending.isEmpty {
            run(machine.stop())
        } else {
            closeWhenIdle = true
            _ = machine.stop()
        }
    }

    /// `EVALSHA` of one of the scripts; `callback` (nil: fire and forget)
    /// runs on this loop, now when the store is not connected.
    func eval(_ script: Script, keys: Int, arguments: [String], callback: Callback?) {
        guard machine.isReady, let context, scriptSHAs.count == 2 else {
            callback?(.failure(notConnected))
            return
        }
        let sha = scriptSHAs[script == .admit ? 0 : 1]
        var buffer = context.channel.allocator.buffer(capacity: 256)
        RESPCommand.encode(["EVALSHA", sha, String(keys)] + arguments, into: &buffer)
        // A store that lost its scripts (a restart, SCRIPT FLUSH) answers
        // NOSCRIPT: the call is made again with the script itself, which
        // also loads it for the next ones.
        let retry: Callback = { [weak self] result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT"), let self {
                self.send(["EVAL", script.text, String(keys)] + arguments, callback: callback)
            } else {
                callback?(result)
            }
        }
        write(buffer, callback: retry)
    }

    /// Any other command (the shared response affinity's GET, SET, DEL).
    func command(_ arguments: [String], callback: Callback?) {
        guard machine.isReady else {
            callback?(.failure(notConnected))
            return
        }
        send(arguments, callback: callback)
    }

    private var notConnected: SharedStateFailure {
        SharedStateFailure(description: machine.lastError.map { "not connected: \($0)" } ?? "not connected")
    }

    private func send(_ arguments: [String], callback: Callback?) {
        guard let context else {
            callback?(.failure(SharedStateFailure(description: "not connected")))
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        RESPCommand.encode(arguments, into: &buffer)
        write(buffer, callback: callback)
    }

    private func write(_ buffer: ByteBuffer, callback: Callback?) {
        guard let context else { return }
        let now = NIODeadline.now()
        pending.append(Pending(deadline: now + timeout, sentAt: now, callback: callback))
        context.write(NIOAny(buffer), promise: nil)
        flushes.flushSoon(context)
        // The timer may be watching only for a stuck connection, later than this call's deadline.
        if timerDeadline.map({ now + timeout < $0 }) ?? true { armTimer() }
    }

    // MARK: - Actions

    private func run(_ action: RedisConnectionStateMachine.Action) {
        switch action {
        case .connect:
            connect()
        case .sendHandshake:
            handshake()
        case .ready:
            logger.info("shared state connected", metadata: ["url": "\(url)"])
            publish()
        case .failPendingAndReconnect(let delay, let reason):
            logger.warning("shared state unavailable; reconnecting", metadata: ["url": "\(url)", "reason": "\(reason)", "retry_in_ms": "\(delay.nanoseconds / 1_000_000)"])
            dropConnection()
            failAll(reason)
            publish()
            reconnect = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                reconnect = nil
                run(machine.reconnectTimerFired())
            }
        case .close:
            dropConnection()
            failAll("shared_state was replaced")
        case .none:
            break
        }
    }

    private func connect() {
        let sslContext: NIOSSLContext?
        do {
            sslContext = url.tls ? try tls.context(verify: verifyTLS) : nil
        } catch {
            return run(machine.connectionLost("TLS: \(error)"))
        }
        let serverName = url.host.isIPAddress ? nil : url.host
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        connectionID += 1
        let id = connectionID
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(2))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext { try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName)) }
                    try sync.addHandler(RedisConnectionHandler(client: loopBound.value, id: id))
                }
            }
            .connect(host: url.host, port: url.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard machine.state == .connecting, id == connectionID else {
                        channel.close(promise: nil)
                        return
                    }
                    self.channel = channel
                    // NIO completes the connect before it fires channelActive.
                    context = try? channel.pipeline.syncOperations.context(handlerType: RedisConnectionHandler.self)
                    run(machine.connected())
                case .failure(let error):
                    run(machine.connectionLost("connect: \(error)"))
                }
            }
    }

    /// AUTH, SELECT and the scripts, pipelined; ready once all succeeded.
    private func handshake() {
        var steps: [[String]] = []
        if let password = url.password { steps.append(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]) }
        if url.database != 0 { steps.append(["SELECT", String(url.database)]) }
        steps.append(["SCRIPT", "LOAD", SharedLimitScripts.admit])
        steps.append(["SCRIPT", "LOAD", SharedLimitScripts.charge])
        var shas: [String] = []
        let total = steps.count
        var answered = 0
        for step in steps {
            let name = step[0] == "SCRIPT" ? "SCRIPT LOAD" : step[0]
            send(step) { [self] result in
                answered += 1
                switch result {
                case .success(.error(let message)):
                    // Redis's own words ("WRONGPASS invalid username-password pair"), never the password.
                    run(machine.connectionLost("\(name) refused: \(message)"))
                case .success(let value):
                    if name == "SCRIPT LOAD", let sha = value.stringValue { shas.append(sha) }
                    if answered == total {
                        guard shas.count == 2 else { return run(machine.connectionLost("SCRIPT LOAD returned no digest")) }
                        scriptSHAs = shas
                        run(machine.handshakeSucceeded())
                    }
                case .failure(let failure):
                    if machine.state == .handshaking { run(machine.connectionLost("\(name): \(failure)")) }
                }
            }
        }
    }

    private func dropConnection() {
        connectionID += 1
        let channel = self.channel
        self.channel = nil
        context = nil
        channel?.close(promise: nil)
    }

    private func failAll(_ reason: String) {
        let failed = pending
        pending.removeAll()
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        for call in failed { call.callback?(.failure(SharedStateFailure(description: reason))) }
    }

    // MARK: - Timeouts

    private func armTimer() {
        guard let first = pending.firstIndex(where: { $0.callback != nil }) else {
            // Only calls already answered by their timeout: watch for a stuck connection.
            if let oldest = pending.first { scheduleTimer(at: oldest.sentAt + stuckAfter) }
            return
        }
        scheduleTimer(at: pending[first].deadline)
    }

    private func scheduleTimer(at deadline: NIODeadline) {
        timer?.cancel()
        timerDeadline = deadline
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerDeadline = nil
            timerFired()
        }
    }

    /// A connection whose oldest call waits this long is dropped and made again.
    private var stuckAfter: TimeAmount { max(.seconds(2), timeout * 20) }

    private func timerFired() {
        let now = NIODeadline.now()
        if let oldest = pending.first, oldest.sentAt + stuckAfter <= now {
            return run(machine.connectionLost("no reply for \(stuckAfter.nanoseconds / 1_000_000) ms"))
        }
        var index = pending.startIndex
        while index != pending.endIndex, pending[index].deadline <= now {
            if let callback = pending[index].callback {
                pending[index].callback = nil
                callback(.failure(SharedStateFailure(description: "timed out after \(timeout.nanoseconds / 1_000_000) ms")))
            }
            index = pending.index(after: index)
        }
        if !pending.isEmpty && timer == nil { armTimer() }
    }

    // MARK: - Connection events

    func connectionActive(_ context: ChannelHandlerContext, id: Int) {
        guard id == connectionID else { return }
        self.context = context
    }

    func replyReceived(_ value: RESPValue, id: Int) {
        guard id == connectionID else { return }
        guard let call = pending.popFirst() else {
            return run(machine.connectionLost("a reply no call was waiting for"))
        }
        let now = NIODeadline.now()
        let seconds = Double((now - call.sentAt).nanoseconds) / 1e9
        latencySeconds = latencySeconds.map { $0 * 0.9 + seconds * 0.1 } ?? seconds
        repliesSincePublished += 1
        if repliesSincePublished >= 256 { publish() }
        call.callback?(.success(value))
        if closeWhenIdle && pending.isEmpty {
            closeWhenIdle = false
            dropConnection()
        }
    }

    func connectionFailed(_ reason: String, id: Int) {
        guard id == connectionID else { return }
        if closeWhenIdle {
            closeWhenIdle = false
            failAll(reason)
            return
        }
        run(machine.connectionLost(reason))
    }

    private func publish() {
        repliesSincePublished = 0
        status.update(loop: loopIndex, .init(connected: machine.isReady, lastError: machine.lastError, latencySeconds: latencySeconds))
    }
}

/// Reads replies off the connection and hands them to its client.
final class RedisConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private weak var client: RedisClient?
    private let id: Int
    private var decoder = RESPDecoder()
    private var buffered: ByteBuffer?
    private var failed = false

    init(client: RedisClient, id: Int) {
        self.client = client
        self.id = id
    }

    func channelActive(context: ChannelHandlerContext) {
        client?.connectionActive(context, id: id)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { client?.connectionActive(context, id: id) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil || buffered!.readableBytes == 0 {
            buffered = incoming
        } else {
            buffered!.writeBuffer(&incoming)
        }
        do {
            while let value = try decoder.decode(&buffered!) {
                client?.replyReceived(value, id: id)
                if failed { return }
            }
            buffered!.discardReadBytes()
        } catch {
            fail(context, "protocol error: \(error)")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(context, "the connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, "\(error)")
    }

    private func fail(_ context: ChannelHandlerContext, _ reason: String) {
        guard !failed else { return }
        failed = true
        context.close(promise: nil)
        client?.connectionFailed(reason, id: id)
        client = nil
    }
}
