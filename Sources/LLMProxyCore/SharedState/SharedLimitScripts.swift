import NIOCore

/// The shared limiter's side in Redis: two Lua scripts, run atomically by
/// the server with the server's clock (`TIME`), so replicas' clocks and
/// counts do not matter. They are `TokenBucket`'s GCRA, written again in
/// Lua: each bucket is one key holding its theoretical arrival time in
/// microseconds.
///
/// `admit` checks a request against up to four buckets (the key's requests
/// and tokens, its `model_limits` entry's requests and tokens) and takes a
/// request from the request buckets only when every bucket admits it, so a
/// refusal costs no bucket anything; asked for a lease (`ARGV[9]` > 1), it
/// takes up to that many at once (see `SharedLimitRequest.LeasePlan`).
/// `charge` pays a response's tokens.
/// The keys of one master key share a hash tag (`{name}`), so a Redis
/// Cluster keeps them in one slot.
package enum SharedLimitScripts {
    package static let admit = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local function tat(i)
          local v = redis.call('GET', KEYS[i])
          if v then return math.max(tonumber(v), now) end
          return now
        end
        for _, i in ipairs({2, 4}) do
          local interval = tonumber(ARGV[2 * i - 1])
          if interval > 0 then
            local ahead = tat(i) - now
            local tolerance = tonumber(ARGV[2 * i])
            if ahead > tolerance then return {0, math.ceil((ahead - tolerance) / 1000000), i} end
          end
        end
        local wanted = tonumber(ARGV[9] or '1')
        local starts = {}
        local granted = wanted
        for _, i in ipairs({1, 3}) do
          local interval = tonumber(ARGV[2 * i - 1])
          if interval > 0 then
            local start = tat(i)
            local ahead = start - now
            local tolerance = tonumber(ARGV[2 * i])
            if ahead > tolerance then return {0, math.ceil((ahead - tolerance) / 1000000), i} end
            starts[i] = start
            granted = math.min(granted, math.floor((tolerance - ahead) / interval) + 1)
          end
        end
        local remaining = -1
        for i, start in pairs(starts) do
          local interval = tonumber(ARGV[2 * i - 1])
          local taken = start + interval * granted
          redis.call('SET', KEYS[i], string.format('%d', taken), 'PX', math.ceil((taken - now) / 1000) + 1000)
          local left = math.floor((tonumber(ARGV[2 * i]) - (start - now)) / interval) + 1 - granted
          if i == 1 or remaining < 0 then remaining = left end
        end
        return {1, remaining, 0, granted}
        """

    package static let charge = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local cost = tonumber(ARGV[3])
        for i = 1, 2 do
          local interval = tonumber(ARGV[i])
          if interval > 0 then
            local v = redis.call('GET', KEYS[i])
            local start = now
            if v then start = math.max(tonumber(v), now) end
            local paid = start + interval * cost
            redis.call('SET', KEYS[i], string.format('%d', paid), 'PX', math.ceil((paid - now) / 1000) + 1000)
          end
        end
        return 1
        """
}

/// What one request asks of the shared limiter, and how its answer reads.
package struct SharedLimitRequest: Sendable {
    package var key: KeyRateLimiter?
    /// The key's `model_limits` entry for the request's model: its pattern and limiter.
    package var model: (pattern: String, limiter: KeyRateLimiter)?

    package init(key: KeyRateLimiter?, model: (pattern: String, limiter: KeyRateLimiter)?) {
        self.key = key
        self.model = model
    }

    package var isEmpty: Bool { key == nil && model == nil }

    /// How a loop may take several requests from the store at once, for a
    /// key (and model entry) whose limits are requests only.
    ///
    /// Tokens taken now and spent within `lifetime` could let the fleet, in
    /// some window, admit up to rate × lifetime more than one process. So
    /// such a key's buckets run with their tolerance less `lifetime` for
    /// every take, leased or not: the fleet never admits more than one
    /// process would, and what it may under-admit is that much of the burst
    /// (at most a tenth of it) plus each loop's lease left unspent when it
    /// expires. Keys with `tokens_per_minute` ask per request: their budget
    /// is spent by usage that only the store sees.
    package struct LeasePlan: Equatable, Sendable {
        /// Requests asked for at once.
        package var size: Int
        /// How long a lease may be spent, from the moment it was asked for.
        package var lifetimeNanoseconds: Int64
    }

    package static let maximumLeaseLifetimeNanoseconds: Int64 = 50_000_000
    package static let maximumLeaseSize = 100

    package var lease: LeasePlan? {
        guard key?.tokens == nil, model?.limiter.tokens == nil else { return nil }
        let buckets = [key?.requests, model?.limiter.requests].compactMap { $0 }
        guard !buckets.isEmpty else { return nil }
        // A tenth of the smallest burst's refill time, at most 50 ms.
        var lifetime = Self.maximumLeaseLifetimeNanoseconds
        for bucket in buckets { lifetime = min(lifetime, Int64(bucket.capacity * Double(bucket.interval) / 10)) }
        var size = Self.maximumLeaseSize
        for bucket in buckets { size = min(size, Int(lifetime / bucket.interval)) }
        return size >= 2 ? LeasePlan(size: size, lifetimeNanoseconds: lifetime) : nil
    }

    private var keyName: String { key?.keyName ?? model?.limiter.keyName ?? "" }

    /// `{prefix}rl:{name}:…`, the four buckets' keys.
    package func keys(prefix: String) -> [String] {
        let base = "\(prefix)rl:{\(keyName)}:"
        let modelBase = base + "m:" + (model?.pattern ?? "") + ":"
        return [base + "req", base + "tok", modelBase + "req", modelBase + "tok"]
    }

    /// `EVALSHA sha 4 keys… interval tolerance ×4` (microseconds; 0 0: no
    /// such bucket), then how many to take: `lease`'s size, or 1. With a
    /// lease plan (`lease` nil or not), request buckets run with their
    /// tolerance less the lease lifetime.
    package func admitArguments(prefix: String, leasing: Bool = false) -> [String] {
        var arguments = keys(prefix: prefix)
        let plan = lease
        let reserve = plan?.lifetimeNanoseconds ?? 0
        for (index, bucket) in [key?.requests, key?.tokens, model?.limiter.requests, model?.limiter.tokens].enumerated() {
            if let bucket {
                let tolerance = index % 2 == 0 ? max(0, bucket.tolerance - reserve) : bucket.tolerance
                arguments += [String(bucket.interval / 1000), String(tolerance / 1000)]
            } else {
                arguments += ["0", "0"]
            }
        }
        arguments.append(String(leasing ? plan?.size ?? 1 : 1))
        return arguments
    }

    /// The charge of `tokens` to the token buckets; nil when neither has one.
    package func chargeArguments(prefix: String, tokens: Int) -> [String]? {
        let keyTokens = key?.tokens
        let modelTokens = model?.limiter.tokens
        guard keyTokens != nil || modelTokens != nil, tokens > 0 else { return nil }
        let all = keys(prefix: prefix)
        return [all[1], all[3], String((keyTokens?.interval ?? 0) / 1000), String((modelTokens?.interval ?? 0) / 1000), String(tokens)]
    }

    package enum Decision: Equatable, Sendable {
        /// `remaining`: what is left of the key's request burst (its own, or
        /// the model entry's when the key has none); `granted`: the requests
        /// taken (more than 1 for a lease, this one included).
        case allowed(remaining: Int, granted: Int)
        case refused(retryAfterSeconds: Int, reason: String, modelPattern: String?)
    }

    /// The script's `{admitted, remaining or retry-after, bucket}`; nil when the reply is not one.
    package func decision(from reply: RESPValue) -> Decision? {
        guard case .array(let items?) = reply, items.count >= 3,
            let admitted = items[0].integerValue, let number = items[1].integerValue, let bucket = items[2].integerValue
        else { return nil }
        if admitted == 1 { return .allowed(remaining: max(0, Int(number)), granted: max(1, Int(items.count > 3 ? items[3].integerValue ?? 1 : 1))) }
        let retryAfter = max(1, Int(number))
        // Buckets 1 and 2 are the key's, 3 and 4 its model entry's; odd ones count requests.
        let limits = bucket <= 2 ? key?.limits : model?.limiter.limits
        let reason = bucket % 2 == 1 ? limits?.requestsRefusal : limits?.tokensRefusal
        return .refused(retryAfterSeconds: retryAfter, reason: reason ?? "", modelPattern: bucket <= 2 ? nil : model?.pattern)
    }

    /// The burst that `x-ratelimit-limit-requests` reports.
    package var reportedLimit: Int {
        Int((key?.limits ?? model?.limiter.limits)?.burstSize ?? 0)
    }

}
