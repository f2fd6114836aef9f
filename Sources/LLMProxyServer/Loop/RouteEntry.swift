import LLMProxyCore

/// A resolved model on one loop: its candidates, their round-robin state,
/// their upstream request plans, and its request-metric series per endpoint
/// and provider, so a request reaches all of them without hashing strings.
final class RouteEntry {
    let model: String
    let route: ModelRoute?
    private var series: [Int: RequestSeries] = [:]
    private var roundRobin: RoundRobinState?
    /// By candidate and operation (`ProxyOperation.index` < 3).
    private var plans: [UpstreamRequestPlan?] = []

    init(model: String, route: ModelRoute?) {
        self.model = model
        self.route = route
    }

    func series(endpoint: String, endpointIndex: Int, providerIndex: Int, provider: String, metrics: LoopMetrics) -> RequestSeries {
        let key = endpointIndex << 32 | providerIndex
        if let existing = series[key] { return existing }
        let created = metrics.series(endpoint: endpoint, model: model, provider: provider)
        series[key] = created
        return created
    }

    /// The round-robin state of this entry's whole candidate list.
    func balancer(loop: LoopContext, snapshot: RuntimeConfig) -> RoundRobinState {
        if let roundRobin { return roundRobin }
        let created = loop.balancer(for: route!, snapshot: snapshot)
        roundRobin = created
        return created
    }

    /// The request plan for a candidate of this entry's own route, for an
    /// operation with the model in the body: such plans depend only on the
    /// provider and the upstream model, so each is built once.
    /// `provider` is read only when the plan is not cached yet: passing the
    /// config itself copied it (a retain and release per field) per request.
    func plan(candidate: Int, operation: ProxyOperation, provider: @autoclosure () -> ProviderConfig) -> UpstreamRequestPlan {
        precondition(operation.modelInBody)
        let slot = candidate * 3 + operation.index
        if plans.isEmpty { plans = Array(repeating: nil, count: route!.candidates.count * 3) }
        if let cached = plans[slot] { return cached }
        let provider = provider()
        let created = ProviderAdapters.adapter(for: provider.type)
            .plan(operation, upstreamModel: route!.candidates[candidate].upstreamModel, provider: provider, clientQuery: nil)
        plans[slot] = created
        return created
    }
}
