import Prometheus

/// The contract's metric names, on one Prometheus registry per gateway (so
/// that tests can run several gateways in one process). Label values stay
/// bounded: key *names*, configured provider names, and models as the
/// router resolved them (an unknown model is counted as `unresolved`).
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    package let activeRequests: Gauge
    /// Limit decisions the shared store could not make (down, slow, a bad reply).
    package let sharedStateErrors: Counter
    /// Access-log lines shed because the log sink could not keep up.
    package let droppedLogLines: Counter
    /// Spans shed because the exporter or the collector could not keep up.
    package let droppedSpans: Counter

    package static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    package static let latencyBuckets = durationBuckets

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        // Present from the first scrape, so dashboards and alerts see zeros
        // rather than absent series.
        for result in ["success", "failure"] {
            _ = registry.makeCounter(descriptor: MetricDescriptors.configReloads, labels: [("result", result)])
        }
        activeRequests = registry.makeGauge(descriptor: MetricDescriptors.activeRequests)
        sharedStateErrors = registry.makeCounter(descriptor: MetricDescriptors.sharedStateErrors)
        droppedLogLines = registry.makeCounter(descriptor: MetricDescriptors.droppedLogLines)
        droppedSpans = registry.makeCounter(descriptor: MetricDescriptors.droppedSpans)
    }

    package func configReload(success: Bool) {
        registry.makeCounter(descriptor: MetricDescriptors.configReloads, labels: [("result", success ? "success" : "failure")]).increment()
    }

    package func observeProviderLatency(_ provider: String, seconds: Double) {
        registry.makeValueHistogram(descriptor: MetricDescriptors.providerLatency, labels: [("provider", provider)], buckets: Self.latencyBuckets)
            .record(seconds)
    }

    package func credentialRefresh(_ provider: String, success: Bool) {
        registry.makeCounter(descriptor: MetricDescriptors.credentialRefreshes, labels: [("provider", provider), ("result", success ? "success" : "failure")])
            .increment()
    }

    package func setProviderHealth(_ provider: String, up: Bool) {
        registry.makeGauge(descriptor: MetricDescriptors.providerHealth, labels: [("provider", provider)]).set(to: up ? 1.0 : 0.0)
    }
}
