import LLMProxyCore

/// The pool's decisions for one upstream host on one event loop, kept apart
/// from the sockets so they can be tested with plain values.
///
/// Idle connections are reused last-in first-out: the most recently used
/// connection is the one least likely to have been closed by the upstream,
/// and the others age out instead of all being kept barely alive.
struct IdleConnectionStack<ID: Hashable> {
    enum ReleaseAction: Equatable {
        case keepIdle
        case close
    }

    private(set) var idle: [(id: ID, since: NIODeadlineLike)] = []
    let maximumIdle: Int

    init(maximumIdle: Int) {
        self.maximumIdle = maximumIdle
    }

    var idleCount: Int { idle.count }

    /// An idle connection to reuse, or nil when a new one must be opened.
    mutating func lease() -> ID? { idle.popLast()?.id }

    /// A connection finished its exchange.
    mutating func release(_ id: ID, reusable: Bool, now: NIODeadlineLike) -> ReleaseAction {
        guard reusable, idle.count < maximumIdle else { return .close }
        idle.append((id, now))
        return .keepIdle
    }

    /// The upstream closed a connection (typically an idle one after its
    /// own keep-alive timeout).
    mutating func closed(_ id: ID) {
        idle.removeAll { $0.id == id }
    }

    /// Idle connections older than `timeout`, removed here; the caller closes them.
    mutating func expire(now: NIODeadlineLike, timeout: Int64) -> [ID] {
        let cutoff = now - timeout
        let expired = idle.filter { $0.since < cutoff }.map(\.id)
        if !expired.isEmpty { idle.removeAll { $0.since < cutoff } }
        return expired
    }
}

/// Nanoseconds on a monotonic clock (`NIODeadline.uptimeNanoseconds`).
typealias NIODeadlineLike = Int64
