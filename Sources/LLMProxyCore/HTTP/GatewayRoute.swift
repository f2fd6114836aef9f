import NIOHTTP1

/// What a request line asks for.
package enum GatewayRoute: Equatable {
    /// A call of one of the API table's APIs; `pathModel` is what the path
    /// names, if anything: the model (Azure deployment, Gemini model), or
    /// for an API whose model location is `.responseID`, the response id.
    case proxy(API, pathModel: String?)
    case listModels
    case health
    case ready
    case detailedHealth
    case metrics
    case methodNotAllowed
    case notFound

    /// The `endpoint` label of the request metrics: bounded, one per API.
    package var metricsEndpoint: String {
        switch self {
        case .proxy(let api, _): return api.row.endpointLabel
        case .listModels: return "/v1/models"
        case .health, .ready, .detailedHealth, .metrics: return "health"
        case .methodNotAllowed, .notFound: return "other"
        }
    }

    /// API calls are counted in the request metrics; health checks, scrapes
    /// and unknown paths are not.
    package var isAPI: Bool {
        switch self {
        case .proxy, .listModels: return true
        case .health, .ready, .detailedHealth, .metrics, .methodNotAllowed, .notFound: return false
        }
    }

    /// The error dialect of an answer on `path`: the API's own, and Google's
    /// for unknown paths under Google's prefix (its SDKs parse nothing else).
    package func dialect(path: Substring) -> ErrorDialect {
        switch self {
        case .proxy(let api, _): return api.row.dialect
        case .methodNotAllowed, .notFound: return path.hasPrefix("/v1beta/") ? .google : .openAI
        case .listModels, .health, .ready, .detailedHealth, .metrics: return .openAI
        }
    }

    /// Splits `uri` into path and query and matches the path.
    package static func match(method: HTTPMethod, uri: String) -> (route: GatewayRoute, path: Substring, query: Substring?) {
        // Over the contiguous UTF-8 bytes: `firstIndex(of: Character)`
        // compares graphemes, and even the UTF-8 view's iterator is several
        // times slower than a pointer.
        let offset = uri.utf8.withContiguousStorageIfAvailable { $0.firstIndex(of: UInt8(ascii: "?")) }
            ?? uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri.utf8.distance(from: uri.utf8.startIndex, to: $0) }
        let questionMark = offset.map { uri.utf8.index(uri.utf8.startIndex, offsetBy: $0) }
        let path = uri[uri.startIndex..<(questionMark ?? uri.endIndex)]
        let query = questionMark.map { uri[uri.index(after: $0)...] }
        return (route(method: method, path: path), path, query)
    }

    private static func route(method: HTTPMethod, path: Substring) -> GatewayRoute {
        func expect(_ allowed: HTTPMethod, _ route: GatewayRoute) -> GatewayRoute {
            method == allowed ? route : .methodNotAllowed
        }
        // The API table's exact paths first, the busiest API first.
        if let api = InboundPaths.api(exactly: path) { return expect(api.row.method, .proxy(api, pathModel: nil)) }
        switch path {
        case "/v1/models", "/models": return expect(.GET, .listModels)
        case "/health", "/health/live": return expect(.GET, .health)
        case "/health/ready": return expect(.GET, .ready)
        case "/health/detailed": return expect(.GET, .detailedHealth)
        case "/metrics": return expect(.GET, .metrics)
        default: break
        }
        if path.hasPrefix("/openai/deployments/") {
            // /openai/deployments/{name}{operation}
            let rest = path.dropFirst("/openai/deployments/".count)
            guard let slash = rest.firstIndex(of: "/") else { return .notFound }
            let name = PercentEncoding.decode(rest[rest.startIndex..<slash])
            let operation = rest[slash...]
            guard !name.isEmpty, let api = InboundPaths.api(azureOperation: operation) else { return .notFound }
            return expect(.POST, .proxy(api, pathModel: name))
        }
        for prefix in ["/v1/responses/", "/responses/"] where path.hasPrefix(prefix) {
            // /v1/responses/{id}{suffix}: the rows of that suffix, told apart by method.
            let rest = path.dropFirst(prefix.count)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let id = PercentEncoding.decode(rest[rest.startIndex..<slash])
            let apis = InboundPaths.apis(responseSuffix: rest[slash...])
            guard !id.isEmpty, !apis.isEmpty else { return .notFound }
            guard let api = apis.first(where: { $0.row.method == method }) else { return .methodNotAllowed }
            return .proxy(api, pathModel: id)
        }
        for prefix in ["/v1beta/models/", "/v1/models/"] where path.hasPrefix(prefix) {
            let rest = path.dropFirst(prefix.count)
            guard let colon = rest.lastIndex(of: ":") else { return .notFound }
            let model = PercentEncoding.decode(rest[rest.startIndex..<colon])
            guard !model.isEmpty, let api = InboundPaths.api(googleAction: rest[rest.index(after: colon)...]) else { return .notFound }
            return expect(.POST, .proxy(api, pathModel: model))
        }
        return .notFound
    }
}

/// The API table's inbound paths, gathered once into flat lists, so a
/// request is matched by comparing strings in order (no array built, no
/// row or enum payload copied per request).
private enum InboundPaths {
    private static let exact = paths { if case .exact(let path) = $0 { path } else { nil } }
    private static let azure = paths { if case .azureDeployment(let operation) = $0 { operation } else { nil } }
    private static let google = paths { if case .googleModelAction(let action) = $0 { action } else { nil } }
    private static let responseResources = paths { if case .responseResource(let suffix) = $0 { suffix } else { nil } }

    static func api(exactly path: Substring) -> API? { find(path, in: exact) }
    static func api(azureOperation operation: Substring) -> API? { find(operation, in: azure) }
    static func api(googleAction action: Substring) -> API? { find(action, in: google) }
    /// Every API at `/v1/responses/{id}{suffix}` (one per method).
    static func apis(responseSuffix suffix: Substring) -> [API] {
        responseResources.texts.indices.compactMap { responseResources.texts[$0] == suffix ? responseResources.apis[$0] : nil }
    }

    private static func find(_ text: Substring, in table: (texts: [String], apis: [API])) -> API? {
        for index in table.texts.indices where table.texts[index] == text { return table.apis[index] }
        return nil
    }

    private static func paths(_ select: (InboundPath) -> String?) -> (texts: [String], apis: [API]) {
        var texts: [String] = []
        var apis: [API] = []
        for api in API.allCases {
            for inbound in api.row.inbound {
                if let text = select(inbound) {
                    texts.append(text)
                    apis.append(api)
                }
            }
        }
        return (texts, apis)
    }
}
