import Foundation

/// The answers of the gateway's own endpoints: `/v1/models` and health.
package enum ControlEndpoints {
    package static func modelList(snapshot: RuntimeConfig, keyIndex: Int?, gateway: GatewayState) -> String {
        var ids = snapshot.router.listedModels { index in
            let provider = snapshot.providers[index]
            return gateway.health.entry(provider.name)?.health.models ?? []
        }
        if let keyIndex {
            let key = snapshot.keys.keys[keyIndex]
            ids = ids.filter { key.allows(model: $0) }
        }
        let created = Int(snapshot.loadedAt.timeIntervalSince1970)
        let data = ids.map { "{\"id\":\(JSONString.quoted($0)),\"object\":\"model\",\"created\":\(created),\"owned_by\":\"llm-proxy\"}" }
        return "{\"object\":\"list\",\"data\":[\(data.joined(separator: ","))]}"
    }

    /// Ready when a config is loaded, the gateway is not draining, and at
    /// least one enabled provider is up.
    package static func readiness(snapshot: RuntimeConfig, gateway: GatewayState, draining: Bool) -> (ready: Bool, body: String) {
        if draining { return (false, "{\"status\":\"draining\"}") }
        let up = snapshot.providers.filter { $0.enabled && gateway.health.isUp($0.name) }.count
        if up == 0 { return (false, "{\"status\":\"unavailable\",\"providers_up\":0}") }
        return (true, "{\"status\":\"ready\",\"providers_up\":\(up)}")
    }

    /// Per-provider state and config version; never a credential.
    package static func detailedHealth(snapshot: RuntimeConfig, gateway: GatewayState) -> String {
        let formatter = ISO8601DateFormatter()
        func date(_ value: Date?) -> String { value.map { JSONString.quoted(formatter.string(from: $0)) } ?? "null" }
        func number(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "null" }
        var providers: [String] = []
        for provider in snapshot.providers {
            let entry = gateway.health.entry(provider.name)
            let health = entry?.health ?? ProviderHealth()
            var json = "{\"name\":\(JSONString.quoted(provider.name)),\"type\":\"\(provider.type.rawValue)\""
            json += ",\"enabled\":\(provider.enabled),\"status\":\"\((entry?.isUp ?? true) ? "up" : "down")\""
            json += ",\"weight\":\(provider.weight),\"consecutive_failures\":\(health.consecutiveFailures)"
            json += ",\"last_error\":\(health.lastError.map(JSONString.quoted) ?? "null")"
            json += ",\"last_probe_at\":\(date(entry?.lastProbeAt)),\"latency_seconds\":\(number(health.lastProbeLatencySeconds))"
            if let endpoint = provider.endpoint {
                json += ",\"api_base\":\(JSONString.quoted((endpoint.useTLS ? "https://" : "http://") + endpoint.hostHeader + endpoint.basePath))"
            }
            if let credentials = provider.credentials {
                // The kind and the token's life, never the token or the secret.
                let status = gateway.credentials.entry(provider.name)
                json += ",\"credentials\":{\"type\":\"\(credentials.typeName)\",\"state\":\"\((status?.state ?? .pending).rawValue)\""
                json += ",\"expires_at\":\(date(status?.expiresAt)),\"last_refresh_at\":\(date(status?.lastRefreshAt))"
                json += ",\"consecutive_failures\":\(status?.consecutiveFailures ?? 0),\"last_error\":\(status?.lastError.map(JSONString.quoted) ?? "null")}"
            }
            json += "}"
            providers.append(json)
        }
        let reloads = gateway.reloads
        var json = "{\"status\":\"ok\",\"uptime_seconds\":\(number(Date().timeIntervalSince(gateway.startedAt)))"
        json += ",\"config\":{\"version\":\(snapshot.version),\"loaded_at\":\(date(snapshot.loadedAt)),\"path\":\(JSONString.quoted(snapshot.sourcePath))"
        json += ",\"reloads_succeeded\":\(reloads.succeeded),\"reloads_failed\":\(reloads.failed)"
        json += ",\"last_reload_error\":\(reloads.lastError.map(JSONString.quoted) ?? "null")}"
        let live = gateway.liveObjects.snapshot
        json += ",\"live_objects\":{\"client_connections\":\(live.clientConnections),\"exchanges\":\(live.exchanges)"
        json += ",\"upstream_connections\":\(live.upstreamConnections),\"probe_connections\":\(live.probeConnections)}"
        if let shared = gateway.sharedState.summary, let config = snapshot.config.sharedState {
            // The URL without its password (`RedisURL.description`).
            json += ",\"shared_state\":{\"url\":\(JSONString.quoted(shared.url)),\"status\":\"\(shared.connected > 0 ? "connected" : "unavailable")\""
            json += ",\"connected_loops\":\(shared.connected),\"loops\":\(shared.loops),\"on_unavailable\":\"\(config.onUnavailable.rawValue)\""
            json += ",\"last_error\":\(shared.lastError.map(JSONString.quoted) ?? "null"),\"latency_seconds\":\(number(shared.latencySeconds))}"
        }
        json += ",\"providers\":[\(providers.joined(separator: ","))]}"
        return json
    }
}
