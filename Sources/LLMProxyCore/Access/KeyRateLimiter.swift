import NIOCore
import Synchronization

/// One master key's limits, shared by every event loop: each bucket is one
/// atomic TAT updated by compare-and-swap, so admitting a request takes no
/// lock even when many loops serve the same key.
public final class KeyRateLimiter: Sendable {
    public let keyName: String
    public let limits: RateLimitConfig
    package let requests: TokenBucket
    package let tokens: TokenBucket?
    private let requestTAT = Atomic<Int64>(0)
    private let tokenTAT = Atomic<Int64>(0)

    public init(keyName: String, limits: RateLimitConfig) {
        self.keyName = keyName
        self.limits = limits
        requests = TokenBucket(rate: limits.requestsPerSecond, capacity: limits.burstSize)
        tokens = limits.tokensPerMinute.map { TokenBucket(rate: Double($0) / 60, capacity: Double($0)) }
    }

    public enum Decision: Sendable, Equatable {
        case allowed(remainingRequests: Int)
        case refused(retryAfterSeconds: Int, reason: String)
    }

    public func admit(now: Int64 = Int64(NIODeadline.now().uptimeNanoseconds)) -> Decision {
        if let tokens, case .refused(let retryAfter) = tokens.check(tat: tokenTAT.load(ordering: .relaxed), now: now) {
            return .refused(retryAfterSeconds: retryAfter, reason: limits.tokensRefusal)
        }
        var current = requestTAT.load(ordering: .relaxed)
        while true {
            let (newTAT, decision) = requests.take(tat: current, now: now)
            guard case .allowed(let remaining) = decision else {
                if case .refused(let retryAfter) = decision {
                    return .refused(retryAfterSeconds: retryAfter, reason: limits.requestsRefusal)
                }
                fatalError("unreachable")
            }
            let (exchanged, original) = requestTAT.compareExchange(expected: current, desired: newTAT, ordering: .relaxed)
            if exchanged { return .allowed(remainingRequests: remaining) }
            current = original
        }
    }

    /// Counts a response's `total_tokens` against `tokens_per_minute`.
    public func charge(tokens count: Int, now: Int64 = Int64(NIODeadline.now().uptimeNanoseconds)) {
        guard let tokens, count > 0 else { return }
        var current = tokenTAT.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = tokenTAT.compareExchange(
                expected: current, desired: tokens.charge(tat: current, now: now, cost: count), ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

extension RateLimitConfig {
    /// Why a request was refused, in every refusal's words (this process's
    /// limiter and the shared store's alike).
    package var requestsRefusal: String { "requests_per_second (\(OpenAIError.formatSeconds(requestsPerSecond))) exceeded" }
    package var tokensRefusal: String { "tokens_per_minute (\(tokensPerMinute ?? 0)) used up" }
}
