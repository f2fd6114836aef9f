import Dispatch
@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct SmoothWeightedRoundRobinTests {
    @Test func nginxSequenceFor5To1To1() {
        var wrr = SmoothWeightedRoundRobin(weights: [5, 1, 1])
        let picks = (0..<14).map { _ in ["a", "b", "c"][wrr.next()!] }
        #expect(picks.joined(separator: " ") == "a a b a c a a a a b a c a a")
    }

    @Test func oneToThreeOver400PicksIsExact() {
        var wrr = SmoothWeightedRoundRobin(weights: [1, 3])
        var counts = [0, 0]
        for _ in 0..<400 { counts[wrr.next()!] += 1 }
        #expect(counts == [100, 300])
    }

    @Test func ineligiblePeersAreSkippedAndNoneEligibleGivesNil() {
        var wrr = SmoothWeightedRoundRobin(weights: [5, 1, 1])
        let picks = (0..<4).map { _ in wrr.next(where: { $0 != 0 })! }
        #expect(picks == [1, 2, 1, 2])
        #expect(wrr.next(where: { _ in false }) == nil)
    }
}
