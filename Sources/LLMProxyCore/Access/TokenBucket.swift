/// A token bucket written as GCRA (the generic cell rate algorithm), so its
/// whole state is one number: the theoretical arrival time (TAT) of the next
/// request. That lets `KeyRateLimiter` share it between event loops with a
/// single compare-and-swap instead of a lock. Pure: time is an argument, so
/// tests drive it with a test clock.
///
/// `rate` tokens refill per second up to `capacity`; a request costs one token
/// (or, for tokens-per-minute, is admitted while any token is left and pays
/// its usage afterwards, which may leave the bucket in debt).
public struct TokenBucket: Sendable, Equatable {
    /// Nanoseconds per token.
    public let interval: Int64
    /// How far ahead of now the TAT may run: the burst.
    public let tolerance: Int64
    public let capacity: Double

    public init(rate: Double, capacity: Double) {
        precondition(rate > 0 && capacity >= 1)
        interval = Int64((1e9 / rate).rounded())
        self.capacity = capacity
        tolerance = Int64((capacity - 1) * 1e9 / rate)
    }

    public enum Decision: Sendable, Equatable {
        case allowed(remaining: Int)
        /// Seconds until a request would pass, rounded up (for `Retry-After`).
        case refused(retryAfterSeconds: Int)
    }

    /// Takes one token at `now`; returns the new TAT and the decision.
    public func take(tat: Int64, now: Int64) -> (tat: Int64, decision: Decision) {
        let start = max(tat, now)
        let ahead = start - now
        if ahead > tolerance {
            return (tat, .refused(retryAfterSeconds: Self.ceilSeconds(ahead - tolerance)))
        }
        let newTAT = start + interval
        let remaining = Int((tolerance - (newTAT - now - interval)) / interval)
        return (newTAT, .allowed(remaining: max(0, remaining)))
    }

    /// Admits while the bucket is not in debt beyond its capacity, without
    /// taking anything (the cost is only known after the response).
    public func check(tat: Int64, now: Int64) -> Decision {
        let ahead = max(tat, now) - now
        if ahead > tolerance {
            return .refused(retryAfterSeconds: Self.ceilSeconds(ahead - tolerance))
        }
        return .allowed(remaining: Int((tolerance - ahead) / interval) + 1)
    }

    /// Pays `cost` tokens after the fact.
    public func charge(tat: Int64, now: Int64, cost: Int) -> Int64 {
        max(tat, now) + interval * Int64(cost)
    }

    package static func ceilSeconds(_ nanoseconds: Int64) -> Int {
        Int((nanoseconds + 999_999_999) / 1_000_000_000)
    }
}
