import Prometheus

/// The contract's metric names, on one Prometheus registry per gateway (so
/// that tests can run several gateways in one process).
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        // Present from the first scrape, so dashboards and alerts see zeros
        // rather than absent series.
        for result in ["success", "failure"] {
            _ = registry.makeCounter(name: "llm_proxy_config_reloads_total", labels: [("result", result)])
        }
        _ = registry.makeGauge(name: "llm_proxy_active_requests")
    }

    func configReload(success: Bool) {
        registry.makeCounter(name: "llm_proxy_config_reloads_total", labels: [("result", success ? "success" : "failure")]).increment()
    }

    func observeProviderLatency(_ provider: String, seconds: Double) {
        registry.makeValueHistogram(name: "llm_proxy_provider_latency_seconds", labels: [("provider", provider)], buckets: Self.latencyBuckets)
            .record(seconds)
    }

    static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

    func setProviderHealth(_ provider: String, up: Bool) {
        registry.makeGauge(name: "llm_proxy_provider_health", labels: [("provider", provider)]).set(to: up ? 1.0 : 0.0)
    }
}
