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

    func setProviderHealth(_ provider: String, up: Bool) {
        registry.makeGauge(name: "llm_proxy_provider_health", labels: [("provider", provider)]).set(to: up ? 1.0 : 0.0)
    }
}
