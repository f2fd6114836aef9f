import LLMProxyCore
import NIOCore

/// One event loop's leases from the shared store: requests a key's limits
/// granted it ahead (`SharedLimitRequest.LeasePlan`), spent one per request
/// without a round trip until they run out or their lifetime ends. Loop-local,
/// so no lock; a reload that changes a key's limits makes new limiter
/// objects, and so new keys here.
struct SharedLease {
    struct Key: Hashable {
        var key: ObjectIdentifier?
        var model: ObjectIdentifier?

        init(_ limits: SharedLimitRequest) {
            key = limits.key.map(ObjectIdentifier.init)
            model = limits.model.map { ObjectIdentifier($0.limiter) }
        }
    }

    private struct Lease {
        var requests: Int
        /// What the store said was left, less what was spent since (for `x-ratelimit-remaining-requests`).
        var remaining: Int
        var expires: NIODeadline
    }

    private var leases: [Key: Lease] = [:]

    /// What a request that waited for another's ask learns.
    enum Answer {
        /// A lease was stored (or the ask was for one request): try again.
        case granted
        /// The store's refusal, for each waiter to answer with.
        case refused(retryAfterSeconds: Int, reason: String, modelPattern: String?)
        case unavailable(String)
    }

    /// The asks in flight, and the requests waiting for each.
    private var asking: [Key: [(Answer) -> Void]] = [:]

    func isAsking(_ key: Key) -> Bool { asking[key] != nil }

    mutating func beginAsking(_ key: Key) { asking[key] = [] }

    mutating func wait(_ key: Key, _ waiter: @escaping (Answer) -> Void) { asking[key, default: []].append(waiter) }

    /// The ask is answered: who waited for it.
    mutating func endAsking(_ key: Key) -> [(Answer) -> Void] { asking.removeValue(forKey: key) ?? [] }

    /// One request from a live lease; what is left of the limit, or nil.
    mutating func take(_ key: Key, now: NIODeadline) -> Int? {
        guard var lease = leases[key] else { return nil }
        guard lease.requests > 0, lease.expires > now else {
            leases[key] = nil
            return nil
        }
        lease.requests -= 1
        leases[key] = lease
        return lease.remaining + lease.requests
    }

    mutating func store(_ key: Key, requests: Int, remaining: Int, expires: NIODeadline) {
        // Bounded by the config's keys and model entries, and emptied by expiry.
        if leases.count > 10_000 { leases.removeAll() }
        leases[key] = Lease(requests: requests, remaining: remaining, expires: expires)
    }
}
