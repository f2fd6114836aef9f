import Prometheus

/// One (endpoint, model, provider) series' metric handles, held by the
/// loop's route cache.
package final class RequestSeries {
    package let endpoint: String
    package let model: String
    package let provider: String
    package let duration: ValueHistogram
    package let firstByte: ValueHistogram
    private let registry: PrometheusCollectorRegistry
    /// By status code, searched in order: a series sees a handful of codes,
    /// and hashing an `Int` costs more than walking them.
    private var counters: [(status: Int, counter: Counter)] = []
    private var tokenCounters: [Counter]?

    package init(endpoint: String, model: String, provider: String, registry: PrometheusCollectorRegistry, duration: ValueHistogram, firstByte: ValueHistogram) {
        self.endpoint = endpoint
        self.model = model
        self.provider = provider
        self.registry = registry
        self.duration = duration
        self.firstByte = firstByte
    }

    package func counter(status: Int) -> Counter {
        for entry in counters where entry.status == status { return entry.counter }
        let counter = registry.makeCounter(descriptor: MetricDescriptors.requests, labels: [
            ("endpoint", endpoint), ("model", model), ("provider", provider), ("status_code", String(status)),
        ])
        counters.append((status, counter))
        return counter
    }

    package func count(_ usage: UsageObserver.Usage) {
        let counters: [Counter]
        if let made = tokenCounters {
            counters = made
        } else {
            // Made on first use (`??` built the array's type metadata on every call).
            counters = ["prompt_tokens", "completion_tokens", "total_tokens"].map { type in
                registry.makeCounter(descriptor: MetricDescriptors.tokens, labels: [("model", model), ("provider", provider), ("token_type", type)])
            }
            tokenCounters = counters
        }
        if usage.prompt > 0 { counters[0].increment(by: Int64(usage.prompt)) }
        if usage.completion > 0 { counters[1].increment(by: Int64(usage.completion)) }
        if usage.total > 0 { counters[2].increment(by: Int64(usage.total)) }
    }
}
