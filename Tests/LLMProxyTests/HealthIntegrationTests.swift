import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Synchronization
import Testing

@Suite(.serialized) struct HealthIntegrationTests {
    /// Upstream whose probe answer (GET …/models) can be switched.
    static func switchableUpstream(models: String = #"{"object":"list","data":[{"id":"llama-3"},{"id":"qwen"}]}"#) async throws -> (MockUpstream, ProbeSwitch) {
        let probe = ProbeSwitch()
        let upstream = try await MockUpstream { request in
            if request.method == "GET" {
                return probe.ok ? .json(models) : .json("{}", status: 503)
            }
            return .okChat
        }
        return (upstream, probe)
    }

    let healthYAML = "health_check: {interval_seconds: 0.2, timeout_seconds: 0.5, unhealthy_threshold: 2, healthy_threshold: 1}\n"

    @Test func failingProbeTakesProviderOutOfRotationAndRecoveryBringsItBack() async throws {
        let (a, probeA) = try await Self.switchableUpstream()
        let (b, _) = try await Self.switchableUpstream()
        try await withGateway(yaml: providersYAML([("a", a.baseURL, 1), ("b", b.baseURL, 1)], extra: healthYAML)) { gateway in
            func chatsTo() async throws -> (a: Int, b: Int) {
                let beforeA = a.requests.filter { $0.method == "POST" }.count
                let beforeB = b.requests.filter { $0.method == "POST" }.count
                for _ in 0..<10 { #expect(try await TestClient.chat(port: gateway.port).status == 200) }
                return (a.requests.filter { $0.method == "POST" }.count - beforeA, b.requests.filter { $0.method == "POST" }.count - beforeB)
            }
            let both = try await chatsTo()
            #expect(both.a > 0 && both.b > 0)
            probeA.ok = false
            // interval × unhealthy_threshold plus a second.
            try await Task.sleep(for: .milliseconds(1400))
            let downed = try await chatsTo()
            #expect(downed.a == 0 && downed.b == 10)
            let detailed = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed")
            let providers = detailed.json()["providers"] as? [[String: Any]] ?? []
            #expect(providers.first { $0["name"] as? String == "a" }?["status"] as? String == "down")
            #expect((providers.first { $0["name"] as? String == "a" }?["last_error"] as? String)?.contains("503") == true)
            #expect(!detailed.text.contains("sk-upstream"))
            probeA.ok = true
            try await Task.sleep(for: .milliseconds(800))
            let recovered = try await chatsTo()
            #expect(recovered.a > 0)
        }
        await a.stop()
        await b.stop()
    }

    @Test func allProvidersDownMeansNotReadyButRequestsFailOpen() async throws {
        let (a, probeA) = try await Self.switchableUpstream()
        probeA.ok = false
        try await withGateway(yaml: providersYAML([("a", a.baseURL, 1)], extra: healthYAML)) { gateway in
            try await waitUntil(seconds: 3) { gateway.gateway.state.health.isUp("a") == false }
            let ready = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/ready", key: nil)
            #expect(ready.status == 503)
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 200)  // tried anyway
            probeA.ok = true
            try await waitUntil(seconds: 3) { gateway.gateway.state.health.isUp("a") }
            let readyAgain = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/ready", key: nil)
            #expect(readyAgain.status == 200)
        }
        await a.stop()
    }

    @Test func passiveFailuresMarkDownBetweenProbes() async throws {
        let closed = try ClosedPort()
        defer { closed.close() }
        let dead = closed.port
        let live = try await MockUpstream()
        try await withGateway(yaml: providersYAML(
            [("dead", "http://127.0.0.1:\(dead)", 1), ("live", live.baseURL, 1)],
            extra: "health_check: {interval_seconds: 3600, unhealthy_threshold: 2}\n")) { gateway in
            for _ in 0..<8 { #expect(try await TestClient.chat(port: gateway.port).status == 200) }
            try await waitUntil(seconds: 1) { !gateway.gateway.state.health.isUp("dead") }
            #expect(!gateway.gateway.state.health.isUp("dead"))
        }
        await live.stop()
    }

    @Test func modelsListIncludesProbedModelsOfProvidersWithoutMapping() async throws {
        let (a, _) = try await Self.switchableUpstream()
        let yaml = providersYAML([("a", a.baseURL, 1)], extra: healthYAML).replacingOccurrences(
            of: "master_keys:\n", with: "  - name: mapped\n    type: mock\n    model_mapping: {demo: demo, \"x-*\": y}\nmaster_keys:\n")
        try await withGateway(yaml: yaml) { gateway in
            try await waitUntil(seconds: 2) { !(gateway.gateway.state.health.entry("a")?.health.models.isEmpty ?? true) }
            let models = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/models")
            let ids = (models.json()["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(Set(ids) == ["llama-3", "qwen", "demo"])
            #expect(a.requests.first { $0.method == "GET" }?.uri == "/v1/models")
            #expect(a.requests.first { $0.method == "GET" }?.header("authorization") == "Bearer sk-upstream-a")
        }
        await a.stop()
    }

    @Test func providerFailingMidStreamEndsTheClientStreamWithoutRetry() async throws {
        let cutting = try await MockUpstream { _ in .stream(chunks: ["data: {\"i\":0}\n\n"], interval: .milliseconds(20), cut: true) }
        let other = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("cutting", cutting.baseURL, 1000), ("other", other.baseURL, 1)])) { gateway in
            let started = Date()
            let response = try await TestClient.chat(port: gateway.port, stream: true)
            #expect(response.text.contains("upstream_stream_interrupted"))
            #expect(other.requests.isEmpty)
            #expect(Date().timeIntervalSince(started) < 2)
        }
        await cutting.stop()
        await other.stop()
    }
}

final class ProbeSwitch: Sendable {
    private let state = Mutex(true)
    var ok: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
