import NIOCore

/// The pending request deadlines of one event loop, earliest first.
///
/// One NIO timer per request costs a heap insertion under the loop's task
/// lock, a promise, and on cancellation a linear search of the loop's timer
/// heap (slow with 10,000 open streams). Every request of a config has the
/// same timeout, so deadlines arrive in order: appending at the tail and
/// unlinking by slot are O(1), and one timer for the head is enough.
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
    }

    private var entries: [Entry] = []
    private var freeSlots: [Int] = []
    private var head = -1
    private var tail = -1
    private(set) var count = 0

    var earliest: NIODeadline? { head < 0 ? nil : entries[head].deadline }

    /// Slots ever allocated: the peak of pending deadlines.
    var capacityForTesting: Int { entries.count }

    mutating func insert(_ owner: Owner, deadline: NIODeadline) -> Slot {
        let index: Int
        if let reused = freeSlots.popLast() {
            index = reused
            entries[index].deadline = deadline
            entries[index].owner = owner
            entries[index].generation &+= 1
        } else {
            index = entries.count
            entries.append(Entry(deadline: deadline, owner: owner, previous: -1, next: -1, generation: 0))
        }
        // From the tail back past later deadlines: none, unless a reload
        // shortened the timeout while longer ones are still pending.
        var after = tail
        while after >= 0 && entries[after].deadline > deadline { after = entries[after].previous }
        link(index, after: after)
        count += 1
        return Slot(index: index, generation: entries[index].generation)
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
        while head >= 0 && entries[head].deadline <= now {
            let index = head
            expired.append(entries[index].owner!)
            remove(Slot(index: index, generation: entries[index].generation))
        }
        return expired
    }

    private mutating func link(_ index: Int, after: Int) {
        let next = after >= 0 ? entries[after].next : head
        entries[index].previous = after
        entries[index].next = next
        if after >= 0 { entries[after].next = index } else { head = index }
        if next >= 0 { entries[next].previous = index } else { tail = index }
    }

    private mutating func unlink(_ index: Int) {
        let previous = entries[index].previous
        let next = entries[index].next
        if previous >= 0 { entries[previous].next = next } else { head = next }
        if next >= 0 { entries[next].previous = previous } else { tail = previous }
    }
}
