import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// Every metric the Grafana dashboard and the alert rules query is one the
/// gateway really exports, and the shipped Kubernetes config is valid.
@Suite(.serialized) struct DeployMetricsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func metricNames(in text: String) -> Set<String> {
        let regex = try! Regex("llm_proxy_[a-z_]+")
        return Set(text.matches(of: regex).map { match in
            var name = String(text[match.range])
            for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            return name
        })
    }

    @Test func dashboardAndAlertMetricsExistInALiveScrape() async throws {
        let dashboard = try String(contentsOf: Self.root.appendingPathComponent("deploy/compose/grafana/dashboards/llm-proxy.json"), encoding: .utf8)
        let alerts = try String(contentsOf: Self.root.appendingPathComponent("deploy/prometheus/alerts.yml"), encoding: .utf8)
        let queried = Self.metricNames(in: dashboard).union(Self.metricNames(in: alerts))
        #expect(queried.count >= 10)

        let failing = try await MockUpstream { request in request.method == "GET" ? .json(#"{"data":[]}"#) : .json("{}", status: 503) }
        let healthy = try await MockUpstream()
        let yaml = providersYAML([("failing", failing.baseURL, 5), ("healthy", healthy.baseURL, 1)],
                                 extra: "health_check: {interval_seconds: 0.1}\n")
            // The fourth request is refused (for `llm_proxy_rate_limited_total`) however slowly the
            // machine runs them: at one a second, a loaded CI run refilled the bucket in between.
            .replacingOccurrences(of: "    key: sk-test\n", with: "    key: sk-test\n    rate_limit: {requests_per_second: 0.01, burst_size: 3}\n")
        try await withGateway(yaml: yaml) { gateway in
            for _ in 0..<4 { _ = try await TestClient.chat(port: gateway.port) }
            try await Task.sleep(for: .milliseconds(300))
            let scrape = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil).text
            let exported = Set(scrape.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
            let missing = queried.subtracting(exported)
            #expect(missing.isEmpty, "queried but not exported: \(missing.sorted())")
        }
        await failing.stop()
        await healthy.stop()
    }

    @Test func kubernetesConfigMapsHoldValidConfigs() throws {
        for file in ["sidecar.yaml", "standalone.yaml"] {
            let manifest = try String(contentsOf: Self.root.appendingPathComponent("deploy/kubernetes/\(file)"), encoding: .utf8)
            // The block scalar under `config.yaml: |`, de-indented.
            let lines = manifest.components(separatedBy: "\n")
            let start = try #require(lines.firstIndex { $0.contains("config.yaml: |") })
            let body = lines[(start + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }.map { String($0.dropFirst(4)) }.joined(separator: "\n")
            let config = try ConfigLoader.load(
                text: body, file: file, environment: ["OPENAI_API_KEY": "x", "APP_MASTER_KEY": "y", "REDIS_URL": "redis://llm-proxy-valkey:6379/0"])
            #expect(config.providers.count == 2 && config.watchConfig)
            #expect(config.server.drainTimeoutSeconds < 45)
            // Several replicas share their limits; a sidecar serves one app and needs no store.
            #expect((config.sharedState?.url.host == "llm-proxy-valkey") == (file == "standalone.yaml"))
        }
        let compose = try String(contentsOf: Self.root.appendingPathComponent("deploy/compose/gateway/config.yaml"), encoding: .utf8)
        let config = try ConfigLoader.load(text: compose, file: "compose", environment: [:])
        #expect(config.sharedState?.url.host == "valkey")
    }
}
