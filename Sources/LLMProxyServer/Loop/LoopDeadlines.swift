import LLMProxyCore
import NIOCore

/// What a loop's deadline timer calls back when an entry comes due.
protocol DeadlineOwner: AnyObject {
    /// Runs on the loop; the owner's slot is already gone.
    func deadlinePassed()
}

/// One event loop's deadlines of one kind (request timeouts, client idle
/// timeouts) with a single NIO timer armed for the earliest.
///
/// Every entry of a kind has the same timeout, so `DeadlineQueue` keeps them
/// in order for O(1) each; removing an entry leaves the timer armed, since
/// finding nothing due and re-arming is cheaper than cancelling a NIO task
/// (a search of the loop's timer heap) every time.
final class LoopDeadlines<Owner: DeadlineOwner> {
    typealias Slot = DeadlineQueue<Owner>.Slot

    private let eventLoop: any EventLoop
    private var queue = DeadlineQueue<Owner>()
    private var timer: Scheduled<Void>?
    private var timerDue: NIODeadline?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// `owner.deadlinePassed()` runs at `deadline` unless the slot is removed first.
    func add(_ owner: Owner, at deadline: NIODeadline) -> Slot {
        let slot = queue.insert(owner, deadline: deadline)
        if timerDue.map({ deadline < $0 }) ?? true { arm(at: deadline) }
        return slot
    }

    func remove(_ slot: Slot) {
        queue.remove(slot)
    }

    private func arm(at deadline: NIODeadline) {
        timer?.cancel()
        timerDue = deadline
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.fired() }
    }

    private func fired() {
        timer = nil
        timerDue = nil
        for owner in queue.popExpired(now: .now()) { owner.deadlinePassed() }
        if let next = queue.earliest { arm(at: next) }
    }
}
