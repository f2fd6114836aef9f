import NIOCore

extension TimeAmount {
    /// A timeout as config.yaml gives it: seconds, possibly fractional.
    package init(seconds: Double) {
        self = .nanoseconds(Int64(seconds * 1_000_000_000))
    }
}
