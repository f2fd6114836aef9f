import Foundation
import Synchronization

/// The health of every provider, by name, shared by the prober and the
/// event loops. Keyed by name so it survives a reload for providers that
/// are still configured. The request path reads a per-loop copy of the
/// up/down bits, published when one changes; it comes here only to report
/// failures (and the first success after one), never per healthy request.
public final class ProviderHealthBoard: Sendable {
    public struct Entry: Sendable {
        public var health = ProviderHealth()
        public var lastProbeAt: Date?
        public var lastChangeAt: Date?
        /// False while a provider with `credentials` holds no usable token:
        /// it is down whatever its probes say.
        public var hasCredential = true

        public var isUp: Bool { health.isUp && hasCredential }
    }

    private let state = Mutex<(entries: [String: Entry], thresholds: ProviderHealth.Thresholds)>(
        ([:], ProviderHealth.Thresholds(unhealthy: 3, healthy: 1)))
    /// Called after a provider went up or down, outside the lock.
    private let onChange = Mutex<(@Sendable (_ provider: String, _ isUp: Bool) -> Void)?>(nil)

    public init() {}

    package func setOnChange(_ callback: @escaping @Sendable (String, Bool) -> Void) {
        onChange.withLock { $0 = callback }
    }

    /// Keeps entries for names still configured, drops the rest.
    public func configure(providers: [String], thresholds: ProviderHealth.Thresholds) {
        state.withLock { state in
            state.thresholds = thresholds
            var kept: [String: Entry] = [:]
            for name in providers { kept[name] = state.entries[name] ?? Entry() }
            state.entries = kept
        }
    }

    /// A provider's token arrived (`true`) or may no longer be sent.
    package func setHasCredential(_ hasCredential: Bool, for provider: String, at now: Date = Date()) {
        let changedTo: Bool? = state.withLock { state in
            guard var entry = state.entries[provider], entry.hasCredential != hasCredential else { return nil }
            let wasUp = entry.isUp
            entry.hasCredential = hasCredential
            if entry.isUp != wasUp { entry.lastChangeAt = now }
            state.entries[provider] = entry
            return entry.isUp != wasUp ? entry.isUp : nil
        }
        if let changedTo, let callback = onChange.withLock({ $0 }) { callback(provider, changedTo) }
    }

    @discardableResult
    public func record(_ event: ProviderHealth.Event, for provider: String, at now: Date = Date()) -> ProviderHealth.Action {
        let action: ProviderHealth.Action = state.withLock { state in
            guard var entry = state.entries[provider] else { return .none }
            let wasUp = entry.isUp
            var action = entry.health.handle(event, thresholds: state.thresholds)
            // Without a token the provider stays down, and says so once.
            if entry.isUp == wasUp { action = .none }
            switch event {
            case .probeSucceeded, .probeFailed: entry.lastProbeAt = now
            default: break
            }
            if action != .none { entry.lastChangeAt = now }
            state.entries[provider] = entry
            return action
        }
        if action != .none, let callback = onChange.withLock({ $0 }) { callback(provider, action == .markedUp) }
        return action
    }

    public func entry(_ provider: String) -> Entry? { state.withLock { $0.entries[provider] } }

    public func isUp(_ provider: String) -> Bool { entry(provider)?.isUp ?? true }

    public func upBits(for providers: [ProviderConfig]) -> [Bool] {
        state.withLock { state in providers.map { state.entries[$0.name]?.isUp ?? true } }
    }
}
