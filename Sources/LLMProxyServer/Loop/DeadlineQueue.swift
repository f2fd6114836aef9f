import LLMProxyCore
import NIOCore

/// The pending request deadlines of one event loop, earliest first.
///
/// One NIO timer per request costs a heap insertion under the loop's task
/// lock, a promise, and on cancellation a linear search of the loop's timer
/// heap (slow with 10,000 open streams). Every request of a config has the
/// same timeout, so deadlines arrive in order: appending at the tail and
/// unlinking by slot are O(1), and one timer for the head is enough.
///
/// A reload can change the timeout while requests of the old one are still
/// pending, so deadlines are kept in a few lanes, each in order: a shorter
/// timeout starts a lane of its own instead of having every insert walk back
/// past the longer pending deadlines (10,000 open streams and a halved
/// `request_timeout_seconds` made that a walk of thousands per request).
///
/// Entries live in a slab linked by index, so adding and removing allocate
/// nothing once the slab has grown to the loop's peak of open requests.
struct DeadlineQueue<Owner> {
    /// Where an entry sits, for `remove`. A slot outlives its entry
    /// harmlessly: the generation tells a reused slot from the original.
    struct Slot: Equatable {
        fileprivate var index: Int
        fileprivate var generation: UInt32
    }

    private struct Entry {
        var deadline: NIODeadline
        var owner: Owner?
        var previous: Int
        var next: Int
        var generation: UInt32
        var lane: Int
    }

    /// A list of entries in deadline order.
    private struct Lane {
        var head = -1
        var tail = -1
    }

    /// More lanes than timeouts in use at once only come from deadlines out
    /// of any order; past this many, an insert walks back in a lane instead.
    static var maxLanes: Int { 8 }

    private var entries: [Entry] = []
    private var freeSlots: [Int] = []
    private var lanes = [Lane()]
    private(set) var count = 0
    /// Entries passed walking back to insert: zero while every lane can
    /// take its deadlines at the tail.
    private(set) var stepsWalkedForTesting = 0

    var earliest: NIODeadline? { earliestLane().map { entries[lanes[$0].head].deadline } }

    /// Slots ever allocated: the peak of pending deadlines.
    var capacityForTesting: Int { entries.count }
    var lanesForTesting: Int { lanes.count }

    mutating func insert(_ owner: Owner, deadline: NIODeadline) -> Slot {
        let index: Int
        if let reused = freeSlots.popLast() {
            index = reused
            entries[index].deadline = deadline
            entries[index].owner = owner
            entries[index].generation &+= 1
        } else {
            index = entries.count
            entries.append(Entry(deadline: deadline, owner: owner, previous: -1, next: -1, generation: 0, lane: 0))
        }
        // The usual case: one lane, and the deadline goes at its tail.
        let fitsTheOnlyLane = lanes.count == 1 && (lanes[0].tail < 0 || entries[lanes[0].tail].deadline <= deadline)
        var chosen = fitsTheOnlyLane ? 0 : lane(for: deadline)
        var after: Int
        if chosen >= 0 {
            after = lanes[chosen].tail
        } else {
            // Deadlines in no order at all: keep lane 0 ordered the slow way.
            chosen = 0
            after = lanes[0].tail
            while after >= 0 && entries[after].deadline > deadline {
                after = entries[after].previous
                stepsWalkedForTesting += 1
            }
        }
        entries[index].lane = chosen
        link(index, after: after)
        count += 1
        return Slot(index: index, generation: entries[index].generation)
    }

    /// The lane whose last deadline is the latest not after `deadline`, so
    /// lanes stay tight; else an empty lane; else a new one while there may
    /// be more; else -1.
    private mutating func lane(for deadline: NIODeadline) -> Int {
        var chosen = -1
        var empty = -1
        for (laneIndex, lane) in lanes.enumerated() {
            guard lane.tail >= 0 else {
                if empty < 0 { empty = laneIndex }
                continue
            }
            let last = entries[lane.tail].deadline
            if last <= deadline && (chosen < 0 || entries[lanes[chosen].tail].deadline < last) { chosen = laneIndex }
        }
        if chosen >= 0 { return chosen }
        if empty >= 0 { return empty }
        guard lanes.count < Self.maxLanes else { return -1 }
        lanes.append(Lane())
        return lanes.count - 1
    }

    mutating func remove(_ slot: Slot) {
        let index = slot.index
        guard entries[index].generation == slot.generation, entries[index].owner != nil else { return }
        unlink(index)
        entries[index].owner = nil
        freeSlots.append(index)
        count -= 1
    }

    /// Removes and returns the owners whose deadline is at or before `now`, earliest first.
    mutating func popExpired(now: NIODeadline) -> [Owner] {
        var expired: [Owner] = []
        while let lane = earliestLane(), entries[lanes[lane].head].deadline <= now {
            let index = lanes[lane].head
            expired.append(entries[index].owner!)
            remove(Slot(index: index, generation: entries[index].generation))
        }
        return expired
    }

    private func earliestLane() -> Int? {
        var earliest: Int?
        for (laneIndex, lane) in lanes.enumerated() where lane.head >= 0 {
            if let current = earliest, entries[lanes[current].head].deadline <= entries[lane.head].deadline { continue }
            earliest = laneIndex
        }
        return earliest
    }

    private mutating func link(_ index: Int, after: Int) {
        let lane = entries[index].lane
        let next = after >= 0 ? entries[after].next : lanes[lane].head
        entries[index].previous = after
        entries[index].next = next
        if after >= 0 { entries[after].next = index } else { lanes[lane].head = index }
        if next >= 0 { entries[next].previous = index } else { lanes[lane].tail = index }
    }

    private mutating func unlink(_ index: Int) {
        let lane = entries[index].lane
        let previous = entries[index].previous
        let next = entries[index].next
        if previous >= 0 { entries[previous].next = next } else { lanes[lane].head = next }
        if next >= 0 { entries[next].previous = previous } else { lanes[lane].tail = previous }
    }
}
