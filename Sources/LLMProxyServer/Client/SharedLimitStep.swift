import LLMProxyCore
import NIOCore

/// Admission's limit step when replicas share their limits (`shared_state`):
/// one call to the store per request, answered on the request's own loop
/// (see `RedisClient`), after the body scan so the key's limit and its
/// `model_limits` entry are decided in the same atomic script. When the
/// store cannot decide (down, slower than `timeout_ms`, a reply that is not
/// the script's), `on_unavailable` decides for this request and the miss
/// counts in `llm_proxy_shared_state_errors_total`.
enum SharedLimitStep {
    enum Outcome {
        case admitted(ProxiedRequest, RequestAdmission.RateLimitHeaders?)
        case refused(OpenAIError, RequestAdmission.RateLimitHeaders?)
    }

    /// Holds the request while the store answers (a closure cannot capture a `consuming` value).
    final class Waiting {
        var request: ProxiedRequest?
        init(_ request: consuming ProxiedRequest) { self.request = request }
    }

    /// `completion` runs on the loop, at once when there is nothing to ask
    /// or the store is not connected, else when it answers or times out.
    static func decide(
        _ request: consuming ProxiedRequest, client: RedisClient, config: SharedStateConfig, loop: LoopContext,
        completion: @escaping (Outcome) -> Void
    ) {
        let limits = SharedLimitRequest(key: request.limiter, model: request.modelLimiter.flatMap { limiter in request.modelLimitPattern.map { ($0, limiter) } })
        guard !limits.isEmpty else { return completion(.admitted(request, nil)) }
        request.sharedLimits = limits
        let waiting = Waiting(request)
        client.eval(.admit, keys: 4, arguments: limits.admitArguments(prefix: config.keyPrefix)) { result in
            guard let request = waiting.request.take() else { return }
            switch result {
            case .success(let reply):
                guard let decision = limits.decision(from: reply) else {
                    return completion(unavailable(request, limits: limits, reason: "unexpected reply \(reply)", config: config, loop: loop))
                }
                switch decision {
                case .allowed(let remaining):
                    completion(.admitted(request, RequestAdmission.RateLimitHeaders(limit: limits.reportedLimit, remaining: remaining)))
                case .refused(let retryAfter, let reason, let modelPattern):
                    let keyName = limits.key?.keyName ?? limits.model?.limiter.keyName ?? ""
                    if let modelPattern { loop.metrics.rateLimited(keyName: keyName, modelPattern: modelPattern) } else { loop.metrics.rateLimited(keyName: keyName) }
                    let reasonText = modelPattern.map { "\(reason) for models matching '\($0)'" } ?? reason
                    completion(.refused(
                        .rateLimited(keyName: keyName, retryAfter: retryAfter, reason: reasonText),
                        RequestAdmission.RateLimitHeaders(limit: limits.reportedLimit, remaining: 0)))
                }
            case .failure(let failure):
                completion(unavailable(request, limits: limits, reason: failure.description, config: config, loop: loop))
            }
        }
    }

    /// `on_unavailable`: each replica's own limits, a 503, or admitted.
    private static func unavailable(
        _ request: consuming ProxiedRequest, limits: SharedLimitRequest, reason: String, config: SharedStateConfig, loop: LoopContext
    ) -> Outcome {
        loop.metrics.sharedStateError()
        loop.logger.debug("shared state could not decide", metadata: ["reason": "\(reason)", "on_unavailable": "\(config.onUnavailable.rawValue)"])
        switch config.onUnavailable {
        case .allow:
            return .admitted(request, nil)
        case .deny:
            return .refused(.sharedStateUnavailable(), nil)
        case .local:
            var headers: RequestAdmission.RateLimitHeaders?
            if let key = limits.key {
                switch RequestAdmission.take(key, modelPattern: nil, loop: loop) {
                case .allowed(let allowed): headers = allowed
                case .refused(let error, let refused): return .refused(error, refused)
                }
            }
            if let model = limits.model {
                if case .refused(let error, let refused) = RequestAdmission.take(model.limiter, modelPattern: model.pattern, loop: loop) {
                    return .refused(error, refused)
                }
            }
            return .admitted(request, headers)
        }
    }
}
