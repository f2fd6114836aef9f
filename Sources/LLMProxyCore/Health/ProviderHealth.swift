/// One provider's health as a value-type state machine: events from active
/// probes and live traffic go in, the up/down decision comes out. No I/O,
/// no clock: tests drive it with events.
///
///     var health = ProviderHealth()
///     health.handle(.liveFailed("HTTP 503"), thresholds: t)  // .none, .none, then .markedDown
public struct ProviderHealth: Sendable, Equatable {
    public struct Thresholds: Sendable, Equatable {
        public var unhealthy: Int
        public var healthy: Int

        public init(unhealthy: Int, healthy: Int) {
            self.unhealthy = unhealthy
            self.healthy = healthy
        }
    }

    public enum Event: Sendable, Equatable {
        case probeSucceeded(latencySeconds: Double, models: [String]?)
        case probeFailed(String, latencySeconds: Double?)
        case liveSucceeded
        case liveFailed(String)
    }

    public enum Action: Sendable, Equatable {
        case none
        case markedDown
        case markedUp
    }

    public private(set) var isUp = true
    public private(set) var consecutiveFailures = 0
    public private(set) var consecutiveProbeSuccesses = 0
    public private(set) var lastError: String?
    public private(set) var lastProbeLatencySeconds: Double?
    public private(set) var probes = 0
    /// What the last good probe of `/models` listed, for `/v1/models`.
    public private(set) var models: [String] = []

    public init() {}

    public mutating func handle(_ event: Event, thresholds: Thresholds) -> Action {
        switch event {
        case .probeSucceeded(let latency, let models):
            probes += 1
            lastProbeLatencySeconds = latency
            if let models { self.models = models }
            consecutiveFailures = 0
            consecutiveProbeSuccesses += 1
            if !isUp && consecutiveProbeSuccesses >= thresholds.healthy {
                isUp = true
                return .markedUp
            }
            return .none
        case .probeFailed(let reason, let latency):
            probes += 1
            lastProbeLatencySeconds = latency
            return failed(reason, thresholds: thresholds)
        case .liveSucceeded:
            // Live success clears a run of failures; only probes bring a
            // provider back, so fail-open traffic cannot flap it up.
            if isUp { consecutiveFailures = 0 }
            return .none
        case .liveFailed(let reason):
            return failed(reason, thresholds: thresholds)
        }
    }

    private mutating func failed(_ reason: String, thresholds: Thresholds) -> Action {
        lastError = reason
        consecutiveProbeSuccesses = 0
        consecutiveFailures += 1
        if isUp && consecutiveFailures >= thresholds.unhealthy {
            isUp = false
            return .markedDown
        }
        return .none
    }
}
