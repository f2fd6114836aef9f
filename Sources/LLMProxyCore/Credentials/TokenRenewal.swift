import NIOCore

/// When to fetch a provider's token, when a token stops being used, and how
/// failures back off: one provider's renewal as a value that the renewer
/// drives (`next(now:)`, then `fetched`/`failed`), tested without sockets.
///
/// Times are monotonic (`NIODeadline`), measured from when a fetch was
/// *sent*: an answer's `expires_in` counts from when the endpoint issued the
/// token, which is no earlier than that.
public struct TokenRenewal: Sendable {
    public enum Step: Equatable, Sendable {
        /// Ask the token endpoint now.
        case fetch
        /// The token in hand may no longer be sent: withdraw it.
        case withdraw
        /// Nothing to do before then.
        case sleep(until: NIODeadline)
    }

    /// The token in hand and until when a request may carry it.
    public private(set) var token: String?
    public private(set) var usableUntil: NIODeadline?
    public private(set) var consecutiveFailures = 0
    private var nextFetchAt: NIODeadline

    /// Backoff of failed fetches: 250 ms, doubling, at most 30 s.
    public static let firstRetryDelay = TimeAmount.milliseconds(250)
    public static let longestRetryDelay = TimeAmount.seconds(30)

    public init(now: NIODeadline) {
        nextFetchAt = now
    }

    public mutating func next(now: NIODeadline) -> Step {
        if token != nil, let usableUntil, now >= usableUntil {
            token = nil
            self.usableUntil = nil
            return .withdraw
        }
        if now >= nextFetchAt { return .fetch }
        if token != nil, let usableUntil, usableUntil < nextFetchAt { return .sleep(until: usableUntil) }
        return .sleep(until: nextFetchAt)
    }

    /// A fetch sent at `sentAt` brought a token of `lifetimeSeconds`.
    /// Renewed with a quarter of its life left (at most 5 minutes before its
    /// end, as Google's and Microsoft's own libraries do), and not sent in
    /// its last tenth (at most 30 s): a request on its way must still find
    /// it valid at the provider.
    public mutating func fetched(token: String, lifetimeSeconds: Double, sentAt: NIODeadline) {
        let lifetime = TimeAmount.nanoseconds(Int64(min(lifetimeSeconds, 366 * 86_400) * 1e9))
        let renewMargin = min(TimeAmount.nanoseconds(lifetime.nanoseconds / 4), .minutes(5))
        let usableMargin = min(TimeAmount.nanoseconds(lifetime.nanoseconds / 10), .seconds(30))
        self.token = token
        usableUntil = sentAt + lifetime - usableMargin
        nextFetchAt = sentAt + lifetime - renewMargin
        consecutiveFailures = 0
    }

    /// A fetch failed at `now`: the next one after the backoff. A token in
    /// hand stays until its `usableUntil`.
    public mutating func failed(now: NIODeadline) {
        consecutiveFailures += 1
        nextFetchAt = now + Self.retryDelay(afterFailures: consecutiveFailures)
    }

    public static func retryDelay(afterFailures failures: Int) -> TimeAmount {
        let doubled = firstRetryDelay.nanoseconds << Int64(min(failures - 1, 20))
        return .nanoseconds(min(doubled, longestRetryDelay.nanoseconds))
    }
}
