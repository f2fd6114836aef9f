import LLMProxyCore

/// A round-robin sequence held by reference, so route entries reach theirs
/// without hashing the provider set per request.
final class RoundRobinState {
    var sequence: SmoothWeightedRoundRobin

    init(weights: [Int]) {
        sequence = SmoothWeightedRoundRobin(weights: weights)
    }
}
