import Foundation
import Prometheus
import Synchronization

/// What outlives any one config and is shared by every event loop and the
/// control plane: provider health, reload counts, metrics, the start time.
public final class GatewayState: Sendable {
    public let startedAt = Date()
    public let health = ProviderHealthBoard()
    public let metrics: GatewayMetrics
    public let rateLimiters = RateLimiterRegistry()
    /// Request-path objects alive right now (see `LiveObjectCounts`).
    public let liveObjects = LiveObjectCounts()
    /// Which provider holds each response id relayed (see `ResponseAffinity`).
    public let responseAffinity = ResponseAffinity()
    /// The shared store's connections, for `/health/detailed`.
    public let sharedState = SharedStateStatus()
    /// Renewed provider tokens, for `/health/detailed`.
    public let credentials = CredentialStatus()
    private let current: Mutex<RuntimeConfig>
    private let reloadStats = Mutex<ReloadStats>(ReloadStats())

    public struct ReloadStats: Sendable {
        public var succeeded = 0
        public var failed = 0
        public var lastError: String?
        public var lastAttemptAt: Date?
    }

    public init(config: RuntimeConfig, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        current = Mutex(config)
        metrics = GatewayMetrics(registry: registry)
        health.configure(providers: config.providers.map(\.name), thresholds: config.healthThresholds)
    }

    public var config: RuntimeConfig { current.withLock { $0 } }

    package func replaceConfig(_ config: RuntimeConfig) {
        current.withLock { $0 = config }
        health.configure(providers: config.providers.map(\.name), thresholds: config.healthThresholds)
    }

    public var reloads: ReloadStats { reloadStats.withLock { $0 } }

    package func recordReload(error: String?) {
        reloadStats.withLock { stats in
            stats.lastAttemptAt = Date()
            if let error {
                stats.failed += 1
                stats.lastError = error
            } else {
                stats.succeeded += 1
            }
        }
        metrics.configReload(success: error == nil)
    }

    public func metricsText() -> String {
        let snapshot = config
        for provider in snapshot.providers {
            metrics.setProviderHealth(provider.name, up: health.isUp(provider.name))
        }
        return metrics.registry.emitToString()
    }
}

extension RuntimeConfig {
    package var healthThresholds: ProviderHealth.Thresholds {
        ProviderHealth.Thresholds(unhealthy: config.healthCheck.unhealthyThreshold, healthy: config.healthCheck.healthyThreshold)
    }
}
