import LLMProxyCore

/// A resolved model on one loop: its candidates, their round-robin state,
/// their upstream request plans, and its request-metric series per endpoint
/// and provider, so a request reaches all of them without hashing strings.
final class RouteEntry {
    let model: String
    let route: ModelRoute?
    /// By API and provider index.
    private var series: SlotTable<RequestSeries>
    private var roundRobin: RoundRobinState?
    /// By candidate and API; made on first use.
    private var plans: SlotTable<UpstreamRequestPlan>?

    init(model: String, route: ModelRoute?, providerCount: Int) {
        self.model = model
        self.route = route
        series = SlotTable(rows: API.allCases.count, columns: providerCount)
    }

    func series(api: API, providerIndex: Int, provider: String, metrics: LoopMetrics) -> RequestSeries {
        if let existing = series[api.rawValue, providerIndex] { return existing }
        let created = metrics.series(endpoint: api.row.endpointLabel, model: model, provider: provider)
        series[api.rawValue, providerIndex] = created
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
    /// API with the model in the body: such plans depend only on the
    /// provider and the upstream model, so each is built once.
    /// `provider` is read only when the plan is not cached yet: passing the
    /// config itself copied it (a retain and release per field) per request.
    func plan(candidate: Int, api: API, provider: @autoclosure () -> ProviderConfig) -> UpstreamRequestPlan {
        precondition(api.row.model == .bodyField)
        if plans == nil { plans = SlotTable(rows: route!.candidates.count, columns: API.allCases.count) }
        if let cached = plans![candidate, api.rawValue] { return cached }
        let provider = provider()
        let created = ProviderAdapters.adapter(for: provider.type)
            .plan(api, upstreamModel: route!.candidates[candidate].upstreamModel, provider: provider, clientQuery: nil, responseID: nil)
        plans![candidate, api.rawValue] = created
        return created
    }
}
