import LLMProxyCore
import NIOCore
import NIOHTTP1

/// Admission, as one pipeline of steps that each pass a request on or refuse
/// it with one error (which the client handler answers in the request's
/// dialect):
///
///     head:  route -> key -> declared body length          (admitHead)
///     body:  rate limit                                    (checkLimit)
///            -> body scan -> permission -> resolve          (admitBody)
///
/// The limit is a step of its own because it is the one that will answer
/// later: a limit shared by replicas asks Redis, and its answer arrives on
/// the same event loop as a callback; the handler resumes the pipeline from
/// `admitBody` when it does, with no hop into Swift concurrency.
enum RequestAdmission {
    enum HeadDecision {
        /// `keyIndex`: the key that authenticated it (nil: open gateway or an
        /// endpoint without auth).
        case admitted(keyIndex: Int?)
        /// `close`: the body is not worth reading (413 by its declared length).
        case refused(OpenAIError, close: Bool)
    }

    /// What can be decided from the head alone, on the loop's current config.
    static func admitHead(
        method: HTTPMethod, route: GatewayRoute, path: Substring, query: Substring?, facts: RequestHeadFacts, snapshot: RuntimeConfig
    ) -> HeadDecision {
        switch route {
        case .notFound: return .refused(.notFound(path: String(path)), close: false)
        case .methodNotAllowed: return .refused(.methodNotAllowed(method: method.rawValue, path: String(path)), close: false)
        case .health, .ready, .metrics: return .admitted(keyIndex: nil)
        case .proxy, .listModels, .detailedHealth: break
        }
        var keyIndex: Int?
        let keys = snapshot.keys
        if !keys.isOpen {
            guard let presented = ClientCredential.find(facts, query: query) else { return .refused(.invalidAPIKey(presented: false), close: false) }
            guard let index = keys.lookup(presented.utf8) else { return .refused(.invalidAPIKey(presented: true), close: false) }
            keyIndex = index
        }
        if case .proxy(let api, _) = route {
            let limit = bodyLimit(of: api, snapshot.config.server)
            if let length = facts.contentLength.flatMap({ Int($0) }), length > limit {
                return .refused(.requestTooLarge(limit: limit), close: true)
            }
        }
        return .admitted(keyIndex: keyIndex)
    }

    /// How many body bytes a request of `api` may send: a streamed upload's
    /// limit is what a provider takes, since the gateway holds little of it.
    static func bodyLimit(of api: API, _ server: ServerConfig) -> Int {
        api.row.model == .multipartField ? server.maxUploadBytes : server.maxBodyBytes
    }

    /// What a request's answer reports of its key's request limit.
    struct RateLimitHeaders {
        var limit: Int
        var remaining: Int
    }

    enum LimitDecision {
        case allowed(RateLimitHeaders?)
        case refused(OpenAIError, RateLimitHeaders)
    }

    /// The key's request limit (for proxied calls only).
    static func checkLimit(_ request: borrowing IncomingRequest, loop: LoopContext) -> LimitDecision {
        guard case .proxy = request.route, let limiter = request.limiter else { return .allowed(nil) }
        return take(limiter, modelPattern: nil, loop: loop)
    }

    /// One request from `limiter`: the key's own, or the one of its
    /// `model_limits` entry `modelPattern`, which the refusal then names.
    static func take(_ limiter: KeyRateLimiter, modelPattern: String?, loop: LoopContext) -> LimitDecision {
        let limit = Int(limiter.limits.burstSize)
        switch limiter.admit() {
        case .allowed(let remaining):
            return .allowed(RateLimitHeaders(limit: limit, remaining: remaining))
        case .refused(let retryAfter, let reason):
            let (error, headers) = refusal(
                keyName: limiter.keyName, limit: limit, retryAfter: retryAfter, reason: reason, modelPattern: modelPattern, loop: loop)
            return .refused(error, headers)
        }
    }

    /// A refusal by a key's limit, or by its `model_limits` entry
    /// `modelPattern` (which the message then names), counted in the metrics;
    /// this process's limiter and the shared store's refuse alike.
    static func refusal(
        keyName: String, limit: Int, retryAfter: Int, reason: String, modelPattern: String?, loop: LoopContext
    ) -> (OpenAIError, RateLimitHeaders) {
        if let modelPattern {
            loop.metrics.rateLimited(keyName: keyName, modelPattern: modelPattern)
        } else {
            loop.metrics.rateLimited(keyName: keyName)
        }
        let reason = modelPattern.map { "\(reason) for models matching '\($0)'" } ?? reason
        return (.rateLimited(keyName: keyName, retryAfter: retryAfter, reason: reason), RateLimitHeaders(limit: limit, remaining: 0))
    }

    /// A request refused once its body was in; `model`: the normalized
    /// model when the refusal came after it was read.
    struct BodyRefusal: Error {
        var error: OpenAIError
        var model: String?
        /// The limit that refused it, for the answer's `x-ratelimit-*` headers.
        var rateLimit: RateLimitHeaders?
    }

    /// The body of an API call is in: scan it for `model`, check the key may
    /// use it, and resolve it to candidates of a provider type that serves
    /// the API. Returned, not wrapped in an enum, so the exchange takes it
    /// without a copy.
    static func admitBody(
        _ request: consuming IncomingRequest, api: API, pathModel: String?, requestID: String, loop: LoopContext, takesModelLimit: Bool = true
    ) throws(BodyRefusal) -> ProxiedRequest {
        let snapshot = request.snapshot
        let row = api.row
        if row.model == .responseID, let responseID = pathModel {
            return try admitResponseCall(request, api: api, responseID: responseID, requestID: requestID, loop: loop)
        }
        let field: ModelFieldScanner.Field?
        var previousResponseID: String?
        do throws(ModelFieldScanner.Failure) {
            if row.model == .multipartField {
                // Found while the body was read (see `GatewayHandler.scanUpload`).
                field = request.multipartField
            } else if row.affinity == .creates {
                let fields = try request.body.withUnsafeReadableBytes { bytes throws(ModelFieldScanner.Failure) in
                    try ModelFieldScanner.scanFields(bytes)
                }
                (field, previousResponseID) = (fields.model, fields.previousResponseID)
            } else {
                field = try request.body.withUnsafeReadableBytes { bytes throws(ModelFieldScanner.Failure) in
                    try ModelFieldScanner.scan(bytes)
                }
            }
        } catch {
            throw BodyRefusal(error: .invalidRequest(error.message, param: error.param), model: nil)
        }
        guard let requestedModel = pathModel ?? field?.model else {
            throw BodyRefusal(error: .invalidRequest("'model' is required.", param: "model"), model: nil)
        }
        let model = snapshot.router.normalize(requestedModel)
        var modelLimiter: KeyRateLimiter?
        var modelLimitPattern: String?
        if let keyIndex = request.keyIndex {
            // Read in place: binding the key copied it (a retain and release per field).
            if !snapshot.keys.keys[keyIndex].allows(model: model) { throw BodyRefusal(error: .modelNotAllowed(model), model: "unresolved") }
            // The key's limit for this model, checked as well as its own (the first matching pattern).
            if !request.modelLimiters.isEmpty, let entry = snapshot.keys.keys[keyIndex].modelLimit(for: model), entry < request.modelLimiters.count {
                let limiter = request.modelLimiters[entry]
                let pattern = snapshot.keys.keys[keyIndex].modelLimits[entry].source
                modelLimitPattern = pattern
                if takesModelLimit {
                    switch take(limiter, modelPattern: pattern, loop: loop) {
                    case .allowed:
                        modelLimiter = limiter
                    case .refused(let error, let headers):
                        throw BodyRefusal(error: error, model: model, rateLimit: headers)
                    }
                } else {
                    // Taken by the shared store's decision, which comes next.
                    modelLimiter = limiter
                }
            }
        }
        let routeEntry = loop.resolve(model, in: snapshot)
        guard var route = routeEntry.route else { throw BodyRefusal(error: .modelNotFound(model), model: "unresolved") }
        var routeIsEntryRoute = true
        guard keepServing(row, route: &route, routeIsEntryRoute: &routeIsEntryRoute, snapshot: snapshot) else {
            throw BodyRefusal(error: .modelNotFound(model), model: "unresolved")
        }
        var unlocatedResponseID: String?
        if let previousResponseID, !narrowToHolder(of: previousResponseID, route: &route, routeIsEntryRoute: &routeIsEntryRoute, snapshot: snapshot, loop: loop) {
            unlocatedResponseID = previousResponseID
        }
        var upload: UpstreamRequestEncoder.UploadFraming?
        if request.streamsBody {
            upload = request.head.headers.first(name: "content-length").flatMap { Int($0) }.map { .contentLength($0) } ?? .chunked
        }
        return ProxiedRequest(
            api: api, head: request.head, query: request.query, body: request.body,
            modelField: pathModel == nil || row.model != .path ? field : nil,
            model: model, route: route, routeEntry: routeEntry, routeIsEntryRoute: routeIsEntryRoute, snapshot: snapshot,
            limiter: request.limiter, modelLimiter: modelLimiter, modelLimitPattern: modelLimitPattern, requestID: requestID,
            affinityID: unlocatedResponseID, modelFieldIsMultipart: row.model == .multipartField, upload: upload)
    }

    /// A call that names a stored response in its path (`GET /v1/responses/{id}`
    /// and its kin): no model, no body to scan; its candidates are the
    /// providers that serve the API, narrowed to the one holding the response
    /// when it is known. The key's `allowed_models` and `model_limits` do not
    /// apply (there is no model); its own limit did.
    private static func admitResponseCall(
        _ request: consuming IncomingRequest, api: API, responseID: String, requestID: String, loop: LoopContext
    ) throws(BodyRefusal) -> ProxiedRequest {
        let snapshot = request.snapshot
        let routeEntry = loop.storedResponseEntry(in: snapshot)
        guard var route = routeEntry.route else { throw BodyRefusal(error: .responseNotFound(responseID), model: nil) }
        var routeIsEntryRoute = true
        guard keepServing(api.row, route: &route, routeIsEntryRoute: &routeIsEntryRoute, snapshot: snapshot) else {
            throw BodyRefusal(error: .responseNotFound(responseID), model: nil)
        }
        let known = narrowToHolder(of: responseID, route: &route, routeIsEntryRoute: &routeIsEntryRoute, snapshot: snapshot, loop: loop)
        return ProxiedRequest(
            api: api, head: request.head, query: request.query, body: request.body, modelField: nil,
            model: "", route: route, routeEntry: routeEntry, routeIsEntryRoute: routeIsEntryRoute, snapshot: snapshot,
            limiter: request.limiter, modelLimiter: nil, requestID: requestID, responseID: responseID, affinityID: known ? nil : responseID)
    }

    /// Only the candidates of a provider type that serves `row`'s API
    /// (Google's native API: gemini providers); then the route is a filtered
    /// copy. False when none is left.
    private static func keepServing(_ row: APIRow, route: inout ModelRoute, routeIsEntryRoute: inout Bool, snapshot: RuntimeConfig) -> Bool {
        guard route.candidates.contains(where: { !row.isServed(by: snapshot.providers[$0.providerIndex].type) }) else { return true }
        routeIsEntryRoute = false
        route.candidates.removeAll { !row.isServed(by: snapshot.providers[$0.providerIndex].type) }
        return !route.candidates.isEmpty
    }

    /// Response affinity: when this process knows which provider holds
    /// `responseID` and it is a candidate, it becomes the only one (true).
    private static func narrowToHolder(
        of responseID: String, route: inout ModelRoute, routeIsEntryRoute: inout Bool, snapshot: RuntimeConfig, loop: LoopContext
    ) -> Bool {
        guard let holder = loop.responseAffinity.provider(of: responseID) else { return false }
        return narrow(to: holder, route: &route, routeIsEntryRoute: &routeIsEntryRoute, snapshot: snapshot)
    }

    /// A request whose named response the shared store placed at `holder`:
    /// that provider only, when it is a candidate (true).
    static func narrow(_ request: inout ProxiedRequest, toHolder holder: String) -> Bool {
        guard narrow(to: holder, route: &request.route, routeIsEntryRoute: &request.routeIsEntryRoute, snapshot: request.snapshot) else { return false }
        request.affinityID = nil
        return true
    }

    private static func narrow(to holder: String, route: inout ModelRoute, routeIsEntryRoute: inout Bool, snapshot: RuntimeConfig) -> Bool {
        guard let index = route.candidates.firstIndex(where: { snapshot.providers[$0.providerIndex].name == holder }) else { return false }
        if route.candidates.count > 1 {
            route.candidates = [route.candidates[index]]
            routeIsEntryRoute = false
        }
        return true
    }
}
