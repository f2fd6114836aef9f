import Synchronization

/// How many of the request path's objects are alive in one gateway: client
/// connection handlers, exchanges, upstream connections and health probe
/// connections, counted from `init` to `deinit`. A failed request must leave none of them behind, so
/// tests compare these before and after thousands of failures; a retain
/// cycle shows up here long before it shows up as RSS.
///
///     let before = gateway.liveObjects.snapshot
///     // ... requests that fail ...
///     #expect(gateway.liveObjects.snapshot == before)
///
/// One relaxed atomic add per object and per `deinit`: a few nanoseconds per
/// request, cheap enough to keep in release builds, where an operator can
/// read the same figures in `/health/detailed`.
public final class LiveObjectCounts: Sendable {
    public struct Snapshot: Sendable, Equatable, CustomStringConvertible {
        public var clientConnections: Int
        public var exchanges: Int
        public var upstreamConnections: Int
        public var probeConnections: Int

        public var description: String {
            "client connections \(clientConnections), exchanges \(exchanges), upstream connections \(upstreamConnections), "
                + "probe connections \(probeConnections)"
        }
    }

    package enum Kind {
        case clientConnection, exchange, upstreamConnection, probeConnection
    }

    private let clientConnections = Atomic<Int>(0)
    private let exchanges = Atomic<Int>(0)
    private let upstreamConnections = Atomic<Int>(0)
    private let probeConnections = Atomic<Int>(0)

    public init() {}

    public var snapshot: Snapshot {
        Snapshot(
            clientConnections: clientConnections.load(ordering: .relaxed),
            exchanges: exchanges.load(ordering: .relaxed),
            upstreamConnections: upstreamConnections.load(ordering: .relaxed),
            probeConnections: probeConnections.load(ordering: .relaxed))
    }

    package func created(_ kind: Kind) { add(1, to: kind) }
    package func destroyed(_ kind: Kind) { add(-1, to: kind) }

    /// `Atomic` cannot be handed out, so each kind is spelled out here.
    private func add(_ delta: Int, to kind: Kind) {
        switch kind {
        case .clientConnection: clientConnections.wrappingAdd(delta, ordering: .relaxed)
        case .exchange: exchanges.wrappingAdd(delta, ordering: .relaxed)
        case .upstreamConnection: upstreamConnections.wrappingAdd(delta, ordering: .relaxed)
        case .probeConnection: probeConnections.wrappingAdd(delta, ordering: .relaxed)
        }
    }
}
