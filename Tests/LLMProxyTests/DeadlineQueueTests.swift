import NIOCore
import Testing
@testable import LLMProxy

@Suite struct DeadlineQueueTests {
    private func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    @Test func expiresInDeadlineOrderAndOnlyWhatIsDue() {
        var queue = DeadlineQueue<String>()
        _ = queue.insert("a", deadline: at(10))
        _ = queue.insert("b", deadline: at(20))
        _ = queue.insert("c", deadline: at(30))
        #expect(queue.earliest == at(10))
        #expect(queue.popExpired(now: at(5)).isEmpty)
        #expect(queue.popExpired(now: at(20)) == ["a", "b"])
        #expect(queue.earliest == at(30) && queue.count == 1)
        #expect(queue.popExpired(now: at(100)) == ["c"])
        #expect(queue.earliest == nil && queue.count == 0)
    }

    @Test func removedEntriesNeverExpireFromHeadMiddleOrTail() {
        var queue = DeadlineQueue<String>()
        let slots = ["a", "b", "c", "d", "e"].enumerated().map { queue.insert($1, deadline: at(Int64($0) * 10)) }
        queue.remove(slots[0])
        queue.remove(slots[2])
        queue.remove(slots[4])
        #expect(queue.count == 2 && queue.earliest == at(10))
        #expect(queue.popExpired(now: at(1000)) == ["b", "d"])
    }

    @Test func aShorterTimeoutAfterReloadStillExpiresFirst() {
        var queue = DeadlineQueue<String>()
        _ = queue.insert("long-1", deadline: at(600))
        _ = queue.insert("long-2", deadline: at(610))
        _ = queue.insert("short", deadline: at(50))
        _ = queue.insert("middle", deadline: at(605))
        #expect(queue.earliest == at(50))
        #expect(queue.popExpired(now: at(606)) == ["short", "long-1", "middle"])
    }

    @Test func aStaleSlotDoesNotRemoveTheEntryThatReusedIt() {
        var queue = DeadlineQueue<String>()
        let old = queue.insert("old", deadline: at(10))
        queue.remove(old)
        _ = queue.insert("new", deadline: at(20))  // reuses the slot
        queue.remove(old)
        queue.remove(old)
        #expect(queue.count == 1)
        #expect(queue.popExpired(now: at(20)) == ["new"])
    }

    @Test func theSlabIsReusedInsteadOfGrowing() {
        var queue = DeadlineQueue<Int>()
        for round in 0..<1000 {
            let slots = (0..<4).map { queue.insert(round * 4 + $0, deadline: at(Int64(round))) }
            slots.forEach { queue.remove($0) }
        }
        #expect(queue.count == 0 && queue.earliest == nil)
        #expect(queue.capacityForTesting == 4)
    }
}
