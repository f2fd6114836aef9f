@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import Testing

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

    @Test func aShorterTimeoutWithThousandsPendingTakesALaneInsteadOfWalkingBack() {
        // 5,000 streams under a 600 s timeout, then a reload to 300 s: new
        // requests must not walk back past the old deadlines one by one.
        var queue = DeadlineQueue<Int>()
        var slots: [DeadlineQueue<Int>.Slot] = []
        for index in 0..<5000 { slots.append(queue.insert(index, deadline: at(600_000 + Int64(index)))) }
        for index in 5000..<10_000 { slots.append(queue.insert(index, deadline: at(300_000 + Int64(index)))) }
        #expect(queue.stepsWalkedForTesting == 0 && queue.lanesForTesting == 2)
        #expect(queue.earliest == at(305_000))
        // Remove every third entry of both kinds; the rest expire in deadline order.
        for index in stride(from: 0, to: 10_000, by: 3) { queue.remove(slots[index]) }
        let expired = queue.popExpired(now: at(1_000_000))
        let expected = (5000..<10_000).filter { $0 % 3 != 0 } + (0..<5000).filter { $0 % 3 != 0 }
        #expect(expired == expected)
        #expect(queue.count == 0 && queue.earliest == nil)
        // Drained lanes are reused, not added to.
        _ = queue.insert(1, deadline: at(2_000_000))
        _ = queue.insert(2, deadline: at(1_500_000))
        #expect(queue.lanesForTesting == 2 && queue.popExpired(now: at(3_000_000)) == [2, 1])
    }

    @Test func deadlinesInNoOrderStillExpireInOrderWithBoundedLanes() {
        var queue = DeadlineQueue<Int>()
        var generator = SystemRandomNumberGenerator()
        var deadlines: [Int: Int64] = [:]
        var slots: [Int: DeadlineQueue<Int>.Slot] = [:]
        for owner in 0..<2000 {
            let deadline = Int64.random(in: 0..<100_000, using: &generator)
            deadlines[owner] = deadline
            slots[owner] = queue.insert(owner, deadline: at(deadline))
        }
        #expect(queue.lanesForTesting <= DeadlineQueue<Int>.maxLanes)
        for owner in stride(from: 0, to: 2000, by: 7) {
            queue.remove(slots[owner]!)
            deadlines[owner] = nil
        }
        var expired: [Int] = []
        var now: Int64 = 0
        while now <= 100_000 {
            now += 5_000
            expired += queue.popExpired(now: at(now))
        }
        #expect(expired.count == deadlines.count && queue.count == 0)
        #expect(zip(expired, expired.dropFirst()).allSatisfy { deadlines[$0]! <= deadlines[$1]! })
    }
}
