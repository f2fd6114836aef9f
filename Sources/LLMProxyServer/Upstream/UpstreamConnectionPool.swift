import LLMProxyCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The keep-alive connections of one event loop. Exchanges on this loop use
/// only its connections, so nothing here is shared between threads and no
/// lock is taken per request, as in nginx's per-worker upstream keepalive.
final class UpstreamConnectionPool {
    let eventLoop: any EventLoop
    private let tls: TLSContextCache
    private let flushes: FlushCoalescer
    private let liveObjects: LiveObjectCounts
    /// Boxed, so a lease or release mutates the stack in place instead of
    /// copying it out of the dictionary and back.
    private final class HostStack {
        var stack = IdleConnectionStack<Int>(maximumIdle: UpstreamConnectionPool.maximumIdlePerHost)
    }

    private var stacks: [UpstreamPoolKey: HostStack] = [:]
    private var idleConnections: [Int: UpstreamConnection] = [:]
    private var nextID = 0
    private var expiryTask: RepeatedTask?
    /// Shorter than the usual upstream keep-alive timeouts (nginx and most
    /// load balancers use 60 s or more), so the gateway closes first and
    /// rarely sends a request into a connection the upstream is closing.
    static let idleTimeout = TimeAmount.seconds(30)
    static let maximumIdlePerHost = 256

    init(eventLoop: any EventLoop, tls: TLSContextCache, flushes: FlushCoalescer, liveObjects: LiveObjectCounts) {
        self.eventLoop = eventLoop
        self.tls = tls
        self.flushes = flushes
        self.liveObjects = liveObjects
    }

    /// An idle connection to `key`, if one is open.
    func leaseIdle(_ key: UpstreamPoolKey) -> UpstreamConnection? {
        eventLoop.preconditionInEventLoop()
        guard let host = stacks[key] else { return nil }
        while let id = host.stack.lease() {
            guard let connection = idleConnections.removeValue(forKey: id) else { continue }
            if connection.isActive { return connection }
        }
        return nil
    }

    /// An exchange finished with this connection.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        let now = NIODeadline.now().uptimeNanoseconds
        let host: HostStack
        if let existing = stacks[connection.poolKey] {
            host = existing
        } else {
            host = HostStack()
            stacks[connection.poolKey] = host
        }
        switch host.stack.release(connection.id, reusable: reusable && connection.isActive, now: Int64(now)) {
        case .keepIdle:
            idleConnections[connection.id] = connection
            startExpiryIfNeeded()
        case .close:
            connection.abandon()
        }
    }

    func connectionClosed(_ connection: UpstreamConnection) {
        if idleConnections.removeValue(forKey: connection.id) != nil {
            stacks[connection.poolKey]?.stack.closed(connection.id)
        }
    }

    /// Closes every idle connection (shutdown, tests).
    func closeIdle() {
        for connection in idleConnections.values { connection.abandon() }
        idleConnections.removeAll()
        stacks.removeAll()
        expiryTask?.cancel()
        expiryTask = nil
    }

    /// Opens a new connection (when `leaseIdle` has none, or after an idle
    /// one turned out to be closed); `completion` runs on this event loop,
    /// also after the returned connect is cancelled (with a failure).
    @discardableResult
    func connect(_ key: UpstreamPoolKey, connectTimeout: TimeAmount,
                 _ completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) -> PendingUpstreamConnect {
        eventLoop.preconditionInEventLoop()
        nextID += 1
        let id = nextID
        let pending = PendingUpstreamConnect()
        let boundPending = NIOLoopBound(pending, eventLoop: eventLoop)
        let flushes = NIOLoopBound(self.flushes, eventLoop: eventLoop)
        let liveObjects = self.liveObjects
        let bootstrap: ClientBootstrap
        do {
            bootstrap = try ProviderBootstrap.make(
                eventLoop: eventLoop, endpoint: key.endpoint, verifyTLS: key.verifyTLS, tls: tls, connectTimeout: connectTimeout
            ) { channel, sync in
                boundPending.value.channel = channel
                // Requests go out as bytes (UpstreamRequestEncoder); responses are
                // parsed by NIO's HTTP/1.1 decoder.
                let decoder = UpstreamResponseDecoder()
                try sync.addHandler(ByteToMessageHandler(decoder))
                try sync.addHandler(UpstreamConnection(
                    id: id, poolKey: key, decoder: decoder, flushes: flushes.value, liveObjects: liveObjects))
            }
        } catch {
            completion(.failure(error))
            return pending
        }
        let connecting = key.literalAddress.map { bootstrap.connect(to: $0) }
            ?? bootstrap.connect(host: key.endpoint.host, port: key.endpoint.port)
        connecting.assumeIsolated().whenComplete { result in
            pending.channel = nil
            switch result {
            case .success(let channel):
                do {
                    let connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
                    connection.pool = self
                    completion(.success(connection))
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
        return pending
    }

    private func startExpiryIfNeeded() {
        guard expiryTask == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        expiryTask = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in
            bound.value.expireIdle()
        }
    }

    private func expireIdle() {
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        for host in stacks.values {
            for id in host.stack.expire(now: now, timeout: Self.idleTimeout.nanoseconds) {
                idleConnections.removeValue(forKey: id)?.abandon()
            }
        }
    }
}
