import NIOCore
import Synchronization

/// Limiters by key name, so their buckets survive a reload for keys that
/// are still configured; a key whose limits changed starts a fresh bucket.
public final class RateLimiterRegistry: Sendable {
    private let limiters = Mutex<[String: KeyRateLimiter]>([:])
    /// By key name, then pattern source: `model_limits` buckets.
    private let modelLimiters = Mutex<[String: [String: KeyRateLimiter]]>([:])

    public init() {}

    /// The limiter of each configured key, by key index (nil: unlimited).
    public func limiters(for keys: [MasterKey]) -> [KeyRateLimiter?] {
        limiters.withLock { table in
            var next: [String: KeyRateLimiter] = [:]
            let result = keys.map { key -> KeyRateLimiter? in
                guard let limits = key.rateLimit else { return nil }
                let limiter = table[key.name].flatMap { $0.limits == limits ? $0 : nil } ?? KeyRateLimiter(keyName: key.name, limits: limits)
                next[key.name] = limiter
                return limiter
            }
            table = next
            return result
        }
    }

    /// The limiter of each `model_limits` entry of each key, by key index
    /// and entry index; kept across reloads for a key and pattern whose
    /// limits did not change.
    public func modelLimiters(for keys: [MasterKey]) -> [[KeyRateLimiter]] {
        modelLimiters.withLock { table in
            var next: [String: [String: KeyRateLimiter]] = [:]
            let result = keys.map { key -> [KeyRateLimiter] in
                key.modelLimits.map { entry in
                    let limiter = table[key.name]?[entry.source].flatMap { $0.limits == entry.limits ? $0 : nil }
                        ?? KeyRateLimiter(keyName: key.name, limits: entry.limits)
                    next[key.name, default: [:]][entry.source] = limiter
                    return limiter
                }
            }
            table = next
            return result
        }
    }
}
