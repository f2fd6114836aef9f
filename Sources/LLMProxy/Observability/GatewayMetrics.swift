import Prometheus

/// The contract's metric names, on one Prometheus registry per gateway (so
/// that tests can run several gateways in one process). Label values stay
/// bounded: key *names*, configured provider names, and models as the
/// router resolved them (an unknown model is counted as `unresolved`).
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let activeRequests: Gauge

    static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    static let latencyBuckets = durationBuckets

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        // Present from the first scrape, so dashboards and alerts see zeros
        // rather than absent series.
        for result in ["success", "failure"] {
            _ = registry.makeCounter(name: "llm_proxy_config_reloads_total", labels: [("result", result)])
        }
        activeRequests = registry.makeGauge(name: "llm_proxy_active_requests")
    }

    func configReload(success: Bool) {
        registry.makeCounter(name: "llm_proxy_config_reloads_total", labels: [("result", success ? "success" : "failure")]).increment()
    }

    func observeProviderLatency(_ provider: String, seconds: Double) {
        registry.makeValueHistogram(name: "llm_proxy_provider_latency_seconds", labels: [("provider", provider)], buckets: Self.latencyBuckets)
            .record(seconds)
    }

    func setProviderHealth(_ provider: String, up: Bool) {
        registry.makeGauge(name: "llm_proxy_provider_health", labels: [("provider", provider)]).set(to: up ? 1.0 : 0.0)
    }
}

/// One event loop's handles to the request metrics. Looking a metric up in
/// the registry takes its lock and allocates; the loop does it once per
/// label set and then only increments.
final class LoopMetrics {
    private let metrics: GatewayMetrics
    /// Series of requests that never reached a route entry (errors before a
    /// provider was chosen); proxied requests carry theirs in the route cache.
    private var seriesByLabels: [SeriesLabels: RequestSeries] = [:]
    private var rateLimited: [String: Counter] = [:]
    private var retries: [String: Counter] = [:]
    private static let cacheLimit = 10_000

    struct SeriesLabels: Hashable {
        var endpoint: String
        var model: String
        var provider: String
    }

    init(metrics: GatewayMetrics) {
        self.metrics = metrics
    }

    func requestStarted() { metrics.activeRequests.increment() }

    /// The handles of one (endpoint, model, provider) series. The registry
    /// returns the same metric objects for the same labels, so series made on
    /// different loops or route entries count into one time series.
    func series(endpoint: String, model: String, provider: String) -> RequestSeries {
        RequestSeries(
            endpoint: endpoint, model: model, provider: provider, registry: metrics.registry,
            duration: metrics.registry.makeValueHistogram(
                name: "llm_proxy_request_duration_seconds", labels: [("endpoint", endpoint), ("model", model), ("provider", provider)],
                buckets: GatewayMetrics.durationBuckets),
            firstByte: metrics.registry.makeValueHistogram(
                name: "llm_proxy_time_to_first_byte_seconds", labels: [("model", model), ("provider", provider)],
                buckets: GatewayMetrics.durationBuckets))
    }

    func requestFinished(series: RequestSeries, status: Int, seconds: Double, firstByteSeconds: Double?, usage: UsageObserver.Usage?) {
        metrics.activeRequests.decrement()
        series.counter(status: status).increment()
        series.duration.record(seconds)
        if let firstByteSeconds { series.firstByte.record(firstByteSeconds) }
        if let usage { series.count(usage) }
    }

    func requestFinished(endpoint: String, model: String, provider: String, status: Int, seconds: Double, firstByteSeconds: Double?) {
        let labels = SeriesLabels(endpoint: endpoint, model: model, provider: provider)
        let series = cached(&seriesByLabels, labels) { self.series(endpoint: endpoint, model: model, provider: provider) }
        requestFinished(series: series, status: status, seconds: seconds, firstByteSeconds: firstByteSeconds, usage: nil)
    }

    func rateLimited(keyName: String) {
        let registry = metrics.registry
        cached(&rateLimited, keyName) { registry.makeCounter(name: "llm_proxy_rate_limited_total", labels: [("key", keyName)]) }.increment()
    }

    func retried(provider: String) {
        let registry = metrics.registry
        cached(&retries, provider) { registry.makeCounter(name: "llm_proxy_upstream_retries_total", labels: [("provider", provider)]) }.increment()
    }

    private func cached<Key: Hashable, Value>(_ table: inout [Key: Value], _ key: Key, make: () -> Value) -> Value {
        if let value = table[key] { return value }
        if table.count >= Self.cacheLimit { table.removeAll() }
        let value = make()
        table[key] = value
        return value
    }
}

/// One (endpoint, model, provider) series' metric handles, held by the
/// loop's route cache.
final class RequestSeries {
    let endpoint: String
    let model: String
    let provider: String
    let duration: ValueHistogram
    let firstByte: ValueHistogram
    private let registry: PrometheusCollectorRegistry
    /// By status code, searched in order: a series sees a handful of codes,
    /// and hashing an `Int` costs more than walking them.
    private var counters: [(status: Int, counter: Counter)] = []
    private var tokenCounters: [Counter]?

    init(endpoint: String, model: String, provider: String, registry: PrometheusCollectorRegistry, duration: ValueHistogram, firstByte: ValueHistogram) {
        self.endpoint = endpoint
        self.model = model
        self.provider = provider
        self.registry = registry
        self.duration = duration
        self.firstByte = firstByte
    }

    func counter(status: Int) -> Counter {
        for entry in counters where entry.status == status { return entry.counter }
        let counter = registry.makeCounter(name: "llm_proxy_requests_total", labels: [
            ("endpoint", endpoint), ("model", model), ("provider", provider), ("status_code", String(status)),
        ])
        counters.append((status, counter))
        return counter
    }

    func count(_ usage: UsageObserver.Usage) {
        let counters: [Counter]
        if let made = tokenCounters {
            counters = made
        } else {
            // Made on first use (`??` built the array's type metadata on every call).
            counters = ["prompt_tokens", "completion_tokens", "total_tokens"].map { type in
                registry.makeCounter(name: "llm_proxy_tokens_total", labels: [("model", model), ("provider", provider), ("token_type", type)])
            }
            tokenCounters = counters
        }
        if usage.prompt > 0 { counters[0].increment(by: Int64(usage.prompt)) }
        if usage.completion > 0 { counters[1].increment(by: Int64(usage.completion)) }
        if usage.total > 0 { counters[2].increment(by: Int64(usage.total)) }
    }
}
