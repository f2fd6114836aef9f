import Foundation
import Synchronization

/// What `/health/detailed` says of each provider's renewed token: its state,
/// when it expires, the last renewal and the last error. Never the token.
public final class CredentialStatus: Sendable {
    public enum State: String, Sendable {
        /// The first token has not arrived yet.
        case pending
        /// A usable token is in hand.
        case valid
        /// No usable token: the last renewals failed and the token ran out.
        case expired
    }

    public struct Entry: Sendable {
        public var type: String
        public var state: State = .pending
        public var expiresAt: Date?
        public var lastRefreshAt: Date?
        public var lastError: String?
        public var consecutiveFailures = 0
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func entry(_ provider: String) -> Entry? { entries.withLock { $0[provider] } }

    package func update(_ provider: String, type: String, _ change: (inout Entry) -> Void) {
        entries.withLock { entries in
            var entry = entries[provider] ?? Entry(type: type)
            entry.type = type
            change(&entry)
            entries[provider] = entry
        }
    }

    /// Keeps the entries of these providers only.
    package func keep(_ providers: Set<String>) {
        entries.withLock { entries in entries = entries.filter { providers.contains($0.key) } }
    }
}
