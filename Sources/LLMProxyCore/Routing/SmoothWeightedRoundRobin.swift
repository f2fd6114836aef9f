/// nginx's smooth weighted round-robin (`ngx_http_upstream_get_peer` in
/// ngx_http_upstream_round_robin.c): every pick adds each eligible peer's
/// weight to its current weight, takes the peer with the largest current
/// weight, and subtracts the total eligible weight from it. Weights 5:1:1
/// give a a b a c a a: proportional, and never a burst of one peer.
///
/// A value type: the gateway keeps one per event loop and candidate set, so
/// picking takes no lock.
///
///     var wrr = SmoothWeightedRoundRobin(weights: [5, 1, 1])
///     wrr.next()  // 0
public struct SmoothWeightedRoundRobin: Sendable {
    public let weights: [Int]
    private var current: [Int]

    public init(weights: [Int]) {
        precondition(weights.allSatisfy { $0 >= 1 }, "weights are validated to be >= 1")
        self.weights = weights
        self.current = Array(repeating: 0, count: weights.count)
    }

    /// The next peer among those `isEligible` accepts (nginx skips peers that
    /// are down or already tried), or nil when none is eligible.
    public mutating func next(where isEligible: (Int) -> Bool = { _ in true }) -> Int? {
        var best: Int? = nil
        var total = 0
        for index in weights.indices where isEligible(index) {
            current[index] += weights[index]
            total += weights[index]
            if best == nil || current[index] > current[best!] { best = index }
        }
        if let best { current[best] -= total }
        return best
    }
}
