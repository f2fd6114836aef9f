import NIOCore

/// A provider's token as an event loop holds it: the header value, built
/// once per token, and the moment it may no longer be sent.
struct LoopCredential: Sendable {
    var authorization: String
    var usableUntil: NIODeadline
}
