import LLMProxyCore
import NIOCore

/// A connect in progress. An exchange whose client left, or whose deadline
/// passed, cancels it rather than keep itself, its client handler and the
/// half-open channel alive until `connect_timeout_seconds` runs out.
final class PendingUpstreamConnect {
    /// Set once the channel exists (its initializer runs before it connects).
    var channel: (any Channel)?

    /// Closes the half-open channel; the connect's completion then runs with
    /// a failure.
    func cancel() {
        channel?.close(promise: nil)
        channel = nil
    }
}
