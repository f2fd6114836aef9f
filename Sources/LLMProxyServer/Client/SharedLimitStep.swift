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

    /// `completion` runs on the loop, at once when there is nothing to ask,
    /// the loop holds a lease, or the store is not connected, else when it
    /// answers or times out. While this loop asks for a lease, requests of
    /// the same limits wait for that answer rather than ask too (each ask
    /// would take a lease's worth, and all but one be lost).
    static func decide(
        _ request: consuming ProxiedRequest, client: RedisClient, config: SharedStateConfig, loop: LoopContext,
        completion: @escaping (Outcome) -> Void
    ) {
        let limits = SharedLimitRequest(key: request.limiter, model: request.modelLimiter.flatMap { limiter in request.modelLimitPattern.map { ($0, limiter) } })
        guard !limits.isEmpty else { return completion(.admitted(request, nil)) }
        request.sharedLimits = limits
        guard let plan = limits.lease else {
            return ask(request, limits: limits, lease: nil, client: client, config: config, loop: loop, completion: completion)
        }
        let key = SharedLease.Key(limits)
        if let remaining = loop.sharedLeases.take(key, now: .now()) {
            return completion(.admitted(request, RequestAdmission.RateLimitHeaders(limit: limits.reportedLimit, remaining: remaining)))
        }
        guard !loop.sharedLeases.isAsking(key) else {
            let waiting = Waiting(request)
            loop.sharedLeases.wait(key) { answer in
                guard let request = waiting.request.take() else { return }
                switch answer {
                case .granted:
                    decide(request, client: client, config: config, loop: loop, completion: completion)
                case .refused(let retryAfter, let reason, let modelPattern):
                    completion(refused(limits, retryAfter: retryAfter, reason: reason, modelPattern: modelPattern, loop: loop))
                case .unavailable(let reason):
                    completion(unavailable(request, limits: limits, reason: reason, config: config, loop: loop))
                }
            }
            return
        }
        loop.sharedLeases.beginAsking(key)
        ask(request, limits: limits, lease: (key, plan), client: client, config: config, loop: loop, completion: completion)
    }

    /// One call to the store, for one request (`lease` nil) or a lease.
    private static func ask(
        _ request: consuming ProxiedRequest, limits: SharedLimitRequest, lease: (key: SharedLease.Key, plan: SharedLimitRequest.LeasePlan)?,
        client: RedisClient, config: SharedStateConfig, loop: LoopContext, completion: @escaping (Outcome) -> Void
    ) {
        let sentAt = NIODeadline.now()
        let waiting = Waiting(request)
        client.eval(.admit, keys: 4, arguments: limits.admitArguments(prefix: config.keyPrefix, leasing: lease != nil)) { result in
            guard let request = waiting.request.take() else { return }
            let outcome: Outcome
            let answer: SharedLease.Answer
            switch result {
            case .success(let reply):
                switch limits.decision(from: reply) {
                case .allowed(let remaining, let granted)?:
                    if let lease, granted > 1 {
                        // Spendable for its lifetime from when it was asked for (before the store granted it).
                        loop.sharedLeases.store(
                            lease.key, requests: granted - 1, remaining: remaining, expires: sentAt + .nanoseconds(lease.plan.lifetimeNanoseconds))
                    }
                    outcome = .admitted(request, RequestAdmission.RateLimitHeaders(limit: limits.reportedLimit, remaining: remaining))
                    answer = .granted
                case .refused(let retryAfter, let reason, let modelPattern)?:
                    outcome = refused(limits, retryAfter: retryAfter, reason: reason, modelPattern: modelPattern, loop: loop)
                    answer = .refused(retryAfterSeconds: retryAfter, reason: reason, modelPattern: modelPattern)
                case nil:
                    outcome = unavailable(request, limits: limits, reason: "unexpected reply \(reply)", config: config, loop: loop)
                    answer = .unavailable("unexpected reply")
                }
            case .failure(let failure):
                outcome = unavailable(request, limits: limits, reason: failure.description, config: config, loop: loop)
                answer = .unavailable(failure.description)
            }
            let waiters = lease.map { loop.sharedLeases.endAsking($0.key) } ?? []
            completion(outcome)
            for waiter in waiters { waiter(answer) }
        }
    }

    /// The store's refusal, worded and counted as this process's limiter's.
    private static func refused(_ limits: SharedLimitRequest, retryAfter: Int, reason: String, modelPattern: String?, loop: LoopContext) -> Outcome {
        let keyName = limits.key?.keyName ?? limits.model?.limiter.keyName ?? ""
        let (error, headers) = RequestAdmission.refusal(
            keyName: keyName, limit: limits.reportedLimit, retryAfter: retryAfter, reason: reason, modelPattern: modelPattern, loop: loop)
        return .refused(error, headers)
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
