import Foundation
import LLMProxyCore
import Logging
import NIOCore

/// Active health checks: every `interval_seconds`, a GET of
/// `{api_base}{health_check.path}` for each enabled provider, with the
/// provider's own credentials and URL rules (the adapter's probe plan).
/// Results go to the shared `ProviderHealthBoard`.
struct HealthProber: Sendable {
    let state: GatewayState
    let client: OneShotHTTPClient
    /// The tokens of providers with `credentials`, which their probes carry too.
    let tokens: CredentialRenewers
    let logger: Logger

    func run() async {
        while !Task.isCancelled {
            let snapshot = state.config
            let settings = snapshot.config.healthCheck
            if settings.enabled {
                await probeAll(snapshot)
            }
            try? await Task.sleep(for: .milliseconds(Int64(settings.intervalSeconds * 1000)))
        }
    }

    func probeAll(_ snapshot: RuntimeConfig) async {
        await withTaskGroup(of: Void.self) { group in
            for provider in snapshot.providers where provider.enabled {
                group.addTask { await probe(provider, snapshot: snapshot) }
            }
        }
    }

    func probe(_ provider: ProviderConfig, snapshot: RuntimeConfig) async {
        guard let endpoint = provider.endpoint, provider.type != .mock else {
            state.health.record(.probeSucceeded(latencySeconds: 0, models: nil), for: provider.name)
            return
        }
        let settings = snapshot.config.healthCheck
        var plan = ProviderAdapters.adapter(for: provider.type).probePlan(path: settings.path, provider: provider)
        if provider.credentials != nil {
            // Without a token the provider is down already, and a probe would only be refused.
            guard let token = tokens.tokens(for: [provider])[0] else { return }
            plan.headers.append(.init(name: "Authorization", value: token.authorization))
        }
        let started = ContinuousClock.now
        func elapsed() -> Double {
            let duration = ContinuousClock.now - started
            return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        do {
            let response = try await client.get(
                endpoint: endpoint, plan: plan, verifyTLS: snapshot.config.verifySSL,
                timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
            let latency = elapsed()
            state.metrics.observeProviderLatency(provider.name, seconds: latency)
            if (200..<300).contains(response.status) {
                let models = provider.modelMapping == nil ? Self.modelIDs(in: response.body) : nil
                state.health.record(.probeSucceeded(latencySeconds: latency, models: models), for: provider.name)
            } else {
                state.health.record(.probeFailed("probe answered HTTP \(response.status)", latencySeconds: latency), for: provider.name)
            }
        } catch {
            state.health.record(.probeFailed("probe failed: \(error)", latencySeconds: nil), for: provider.name)
        }
    }

    /// The ids of an OpenAI-style `/models` listing.
    static func modelIDs(in body: [UInt8]) -> [String]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let data = object["data"] as? [[String: Any]]
        else { return nil }
        return data.compactMap { $0["id"] as? String }
    }
}
