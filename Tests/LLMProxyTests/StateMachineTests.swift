@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import Testing

@Suite struct ProviderHealthTests {
    let thresholds = ProviderHealth.Thresholds(unhealthy: 3, healthy: 2)

    @Test func marksDownAfterThresholdFailuresInARow() {
        var health = ProviderHealth()
        #expect(health.handle(.liveFailed("503"), thresholds: thresholds) == .none)
        #expect(health.handle(.probeFailed("refused", latencySeconds: nil), thresholds: thresholds) == .none)
        #expect(health.handle(.liveFailed("timeout"), thresholds: thresholds) == .markedDown)
        #expect(!health.isUp && health.lastError == "timeout")
        #expect(health.handle(.liveFailed("again"), thresholds: thresholds) == .none)
    }

    @Test func successInBetweenResetsTheRun() {
        var health = ProviderHealth()
        _ = health.handle(.liveFailed("a"), thresholds: thresholds)
        _ = health.handle(.liveFailed("b"), thresholds: thresholds)
        _ = health.handle(.liveSucceeded, thresholds: thresholds)
        #expect(health.handle(.liveFailed("c"), thresholds: thresholds) == .none)
        #expect(health.isUp && health.consecutiveFailures == 1)
    }

    @Test func recoversOnlyAfterHealthyThresholdProbes() {
        var health = ProviderHealth()
        for _ in 0..<3 { _ = health.handle(.liveFailed("x"), thresholds: thresholds) }
        #expect(health.handle(.liveSucceeded, thresholds: thresholds) == .none)
        #expect(!health.isUp)
        #expect(health.handle(.probeSucceeded(latencySeconds: 0.01, models: ["m"]), thresholds: thresholds) == .none)
        #expect(health.handle(.probeSucceeded(latencySeconds: 0.01, models: nil), thresholds: thresholds) == .markedUp)
        #expect(health.isUp && health.models == ["m"] && health.lastProbeLatencySeconds == 0.01)
    }

    @Test func flappingProbeNeverAccumulates() {
        var health = ProviderHealth()
        for _ in 0..<10 {
            #expect(health.handle(.probeFailed("x", latencySeconds: 0.1), thresholds: thresholds) == .none)
            #expect(health.handle(.probeSucceeded(latencySeconds: 0.1, models: nil), thresholds: thresholds) == .none)
        }
        #expect(health.isUp)
    }

    @Test func boardKeepsStateAcrossReconfigurationByName() {
        let board = ProviderHealthBoard()
        board.configure(providers: ["a", "b"], thresholds: .init(unhealthy: 1, healthy: 1))
        #expect(board.record(.liveFailed("x"), for: "a") == .markedDown)
        board.configure(providers: ["a", "c"], thresholds: .init(unhealthy: 1, healthy: 1))
        #expect(!board.isUp("a") && board.isUp("c") && board.entry("b") == nil)
        #expect(board.record(.liveFailed("x"), for: "unknown") == .none)
    }
}

@Suite struct IdleConnectionStackTests {
    @Test func reusesMostRecentFirst() {
        var stack = IdleConnectionStack<Int>(maximumIdle: 4)
        #expect(stack.lease() == nil)
        #expect(stack.release(1, reusable: true, now: 0) == .keepIdle)
        #expect(stack.release(2, reusable: true, now: 1) == .keepIdle)
        #expect(stack.lease() == 2)
        #expect(stack.lease() == 1)
        #expect(stack.lease() == nil)
    }

    @Test func closesUnreusableAndOverflow() {
        var stack = IdleConnectionStack<Int>(maximumIdle: 1)
        #expect(stack.release(1, reusable: false, now: 0) == .close)
        #expect(stack.release(2, reusable: true, now: 0) == .keepIdle)
        #expect(stack.release(3, reusable: true, now: 0) == .close)
    }

    @Test func upstreamCloseAndExpiryRemoveIdle() {
        var stack = IdleConnectionStack<Int>(maximumIdle: 8)
        _ = stack.release(1, reusable: true, now: 0)
        _ = stack.release(2, reusable: true, now: 50)
        _ = stack.release(3, reusable: true, now: 100)
        stack.closed(2)
        #expect(stack.expire(now: 120, timeout: 60) == [1])
        #expect(stack.idleCount == 1)
        #expect(stack.lease() == 3)
    }
}

@Suite struct StreamCompletionTrackerTests {
    @Test func seesDoneAcrossChunkBoundaries() {
        var tracker = StreamCompletionTracker()
        tracker.observe(ByteBuffer(string: "data: {\"a\":1}\n\ndata: [DO"))
        #expect(!tracker.sawDone)
        tracker.observe(ByteBuffer(string: "NE]\n\n"))
        #expect(tracker.sawDone)
        tracker.observe(ByteBuffer(string: "data: {\"late\":1}\n\n"))
        #expect(!tracker.sawDone)
    }
}
