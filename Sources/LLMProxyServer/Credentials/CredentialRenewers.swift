import LLMProxyCore
import Synchronization

/// The renewer of every provider with `credentials`, by provider name. A
/// reload keeps the renewer (and so the token) of a provider whose
/// credentials did not change; new or changed ones are started before the
/// config is installed (`prepare`), so their first token is usually in hand
/// when the first request needs it.
final class CredentialRenewers: Sendable {
    /// What a renewer is for: a renewer serves a provider of another config
    /// only when these are equal.
    private struct Key: Hashable {
        var credentials: ProviderCredentials
        var verifyTLS: Bool

        init(credentials: ProviderCredentials, verifyTLS: Bool) {
            self.credentials = credentials
            self.verifyTLS = verifyTLS
        }

        init(_ renewer: CredentialRenewer) {
            self.init(credentials: renewer.credentials, verifyTLS: renewer.verifyTLS)
        }
    }

    /// `renewer` if it is for `key`.
    private static func renewer(_ renewer: CredentialRenewer?, for key: Key) -> CredentialRenewer? {
        renewer.flatMap { Key($0) == key ? $0 : nil }
    }

    typealias Publish = @Sendable (CredentialRenewer) -> Void

    private let state = Mutex<(current: [String: CredentialRenewer], prepared: [String: CredentialRenewer])>(([:], [:]))
    private let makeRenewer: @Sendable (_ provider: String, _ credentials: ProviderCredentials, _ verifyTLS: Bool, _ onChange: @escaping Publish) -> CredentialRenewer
    /// Called when a current renewer's token arrives or is withdrawn.
    private let onPublish = Mutex<Publish?>(nil)

    init(make: @escaping @Sendable (String, ProviderCredentials, Bool, @escaping Publish) -> CredentialRenewer) {
        makeRenewer = make
    }

    func setOnPublish(_ callback: @escaping Publish) {
        onPublish.withLock { $0 = callback }
    }

    private func make(_ provider: String, _ credentials: ProviderCredentials, _ verifyTLS: Bool) -> CredentialRenewer {
        makeRenewer(provider, credentials, verifyTLS) { [weak self] renewer in
            // A prepared renewer's token is read when its config is installed.
            guard let self, self.isCurrent(renewer), let publish = self.onPublish.withLock({ $0 }) else { return }
            publish(renewer)
        }
    }

    /// Starts renewers for `config`'s new or changed credentials and waits
    /// (at most `timeout`) for their first answers.
    func prepare(_ config: RuntimeConfig, timeout: Duration) async {
        let started: [CredentialRenewer] = state.withLock { state in
            var started: [CredentialRenewer] = []
            for provider in config.providers {
                guard let credentials = provider.credentials else { continue }
                let key = Key(credentials: credentials, verifyTLS: config.config.verifySSL)
                if Self.renewer(state.current[provider.name], for: key) != nil || Self.renewer(state.prepared[provider.name], for: key) != nil { continue }
                state.prepared[provider.name]?.stop()
                let renewer = make(provider.name, credentials, config.config.verifySSL)
                state.prepared[provider.name] = renewer
                started.append(renewer)
            }
            return started
        }
        for renewer in started { renewer.start() }
        await withTaskGroup(of: Void.self) { group in
            for renewer in started { group.addTask { await renewer.waitForFirstAnswer(timeout: timeout) } }
        }
    }

    /// Makes `config`'s renewers current: kept, prepared, or started now;
    /// the others stop. Returns the current ones.
    @discardableResult
    func install(_ config: RuntimeConfig) -> [String: CredentialRenewer] {
        let (current, stopped, started) = state.withLock { state in
            var next: [String: CredentialRenewer] = [:]
            var started: [CredentialRenewer] = []
            for provider in config.providers {
                guard let credentials = provider.credentials else { continue }
                let key = Key(credentials: credentials, verifyTLS: config.config.verifySSL)
                if let current = Self.renewer(state.current[provider.name], for: key) {
                    next[provider.name] = current
                } else if let prepared = Self.renewer(state.prepared[provider.name], for: key) {
                    next[provider.name] = prepared
                    state.prepared[provider.name] = nil
                } else {
                    let renewer = make(provider.name, credentials, config.config.verifySSL)
                    next[provider.name] = renewer
                    started.append(renewer)
                }
            }
            let stopped = state.current.values.filter { renewer in next[renewer.provider] !== renewer }
            state.current = next
            return (next, stopped, started)
        }
        for renewer in stopped { renewer.stop() }
        for renewer in started { renewer.start() }
        return current
    }

    func isCurrent(_ renewer: CredentialRenewer) -> Bool {
        state.withLock { $0.current[renewer.provider] === renewer }
    }

    /// The tokens of `providers` by index, as loops hold them.
    func tokens(for providers: [ProviderConfig]) -> [LoopCredential?] {
        let current = state.withLock { $0.current }
        return providers.map { provider in provider.credentials == nil ? nil : current[provider.name]?.current }
    }

    func stopAll() {
        let all = state.withLock { state in
            defer { state = ([:], [:]) }
            return Array(state.current.values) + Array(state.prepared.values)
        }
        for renewer in all { renewer.stop() }
    }
}
