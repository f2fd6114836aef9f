import Synchronization

/// What `/health/detailed` says of the shared store: each event loop's
/// connection (connected or not, its last error, its round-trip latency),
/// published by the loop on a state change and every few replies, never per
/// request. The URL shown has no password.
public final class SharedStateStatus: Sendable {
    public struct Connection: Sendable, Equatable {
        public var connected = false
        public var lastError: String?
        /// Smoothed round trip of the store's replies.
        public var latencySeconds: Double?

        public init(connected: Bool = false, lastError: String? = nil, latencySeconds: Double? = nil) {
            self.connected = connected
            self.lastError = lastError
            self.latencySeconds = latencySeconds
        }
    }

    private let connections = Mutex<[Int: Connection]>([:])
    private let target = Mutex<String?>(nil)

    public init() {}

    package func configure(url: String?) {
        target.withLock { $0 = url }
        if url == nil { connections.withLock { $0.removeAll() } }
    }

    package func update(loop: Int, _ connection: Connection) {
        connections.withLock { $0[loop] = connection }
    }

    /// nil when no `shared_state` is configured.
    public var summary: (url: String, connected: Int, loops: Int, lastError: String?, latencySeconds: Double?)? {
        guard let url = target.withLock({ $0 }) else { return nil }
        let all = connections.withLock { Array($0.values) }
        let connected = all.filter(\.connected).count
        let latencies = all.compactMap(\.latencySeconds)
        return (url, connected, all.count, all.compactMap(\.lastError).first,
                latencies.isEmpty ? nil : latencies.reduce(0, +) / Double(latencies.count))
    }
}
