import Prometheus

/// One event loop's handles to the request metrics. Looking a metric up in
/// the registry takes its lock and allocates; the loop does it once per
/// label set and then only increments.
package final class LoopMetrics {
    private let metrics: GatewayMetrics
    /// Series of requests that never reached a route entry (errors before a
    /// provider was chosen); proxied requests carry theirs in the route cache.
    private var seriesByLabels: [SeriesLabels: RequestSeries] = [:]
    private var rateLimited: [String: Counter] = [:]
    private var modelRateLimited: [ModelLimitLabels: Counter] = [:]
    private var retries: [String: Counter] = [:]
    private static let cacheLimit = 10_000

    private struct ModelLimitLabels: Hashable {
        var key: String
        var pattern: String
    }

    package struct SeriesLabels: Hashable {
        package var endpoint: String
        package var model: String
        package var provider: String
    }

    package init(metrics: GatewayMetrics) {
        self.metrics = metrics
    }

    package func requestStarted() { metrics.activeRequests.increment() }

    /// The handles of one (endpoint, model, provider) series. The registry
    /// returns the same metric objects for the same labels, so series made on
    /// different loops or route entries count into one time series.
    package func series(endpoint: String, model: String, provider: String) -> RequestSeries {
        RequestSeries(
            endpoint: endpoint, model: model, provider: provider, registry: metrics.registry,
            duration: metrics.registry.makeValueHistogram(
                descriptor: MetricDescriptors.requestDuration, labels: [("endpoint", endpoint), ("model", model), ("provider", provider)],
                buckets: GatewayMetrics.durationBuckets),
            firstByte: metrics.registry.makeValueHistogram(
                descriptor: MetricDescriptors.timeToFirstByte, labels: [("model", model), ("provider", provider)],
                buckets: GatewayMetrics.durationBuckets))
    }

    package func requestFinished(series: RequestSeries, status: Int, seconds: Double, firstByteSeconds: Double?, usage: UsageObserver.Usage?) {
        metrics.activeRequests.decrement()
        series.counter(status: status).increment()
        series.duration.record(seconds)
        if let firstByteSeconds { series.firstByte.record(firstByteSeconds) }
        if let usage { series.count(usage) }
    }

    package func requestFinished(endpoint: String, model: String, provider: String, status: Int, seconds: Double, firstByteSeconds: Double?) {
        let labels = SeriesLabels(endpoint: endpoint, model: model, provider: provider)
        let series = cached(&seriesByLabels, labels) { self.series(endpoint: endpoint, model: model, provider: provider) }
        requestFinished(series: series, status: status, seconds: seconds, firstByteSeconds: firstByteSeconds, usage: nil)
    }

    package func sharedStateError() { metrics.sharedStateErrors.increment() }

    package func rateLimited(keyName: String) {
        let registry = metrics.registry
        cached(&rateLimited, keyName) { registry.makeCounter(descriptor: MetricDescriptors.rateLimited, labels: [("key", keyName)]) }.increment()
    }

    /// A refusal by a key's limit for some models: counted in the key's
    /// `llm_proxy_rate_limited_total` too, and by pattern (bounded: the
    /// config's patterns, never the raw model) in `llm_proxy_model_rate_limited_total`.
    package func rateLimited(keyName: String, modelPattern: String) {
        rateLimited(keyName: keyName)
        let registry = metrics.registry
        cached(&modelRateLimited, ModelLimitLabels(key: keyName, pattern: modelPattern)) {
            registry.makeCounter(descriptor: MetricDescriptors.modelRateLimited, labels: [("key", keyName), ("pattern", modelPattern)])
        }.increment()
    }

    package func retried(provider: String) {
        let registry = metrics.registry
        cached(&retries, provider) { registry.makeCounter(descriptor: MetricDescriptors.upstreamRetries, labels: [("provider", provider)]) }.increment()
    }

    private func cached<Key: Hashable, Value>(_ table: inout [Key: Value], _ key: Key, make: () -> Value) -> Value {
        if let value = table[key] { return value }
        if table.count >= Self.cacheLimit { table.removeAll() }
        let value = make()
        table[key] = value
        return value
    }
}
