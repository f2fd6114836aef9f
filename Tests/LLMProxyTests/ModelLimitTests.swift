import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// `master_keys[].model_limits`: a key's limits for some models, checked as
/// well as the key's own.
@Suite(.serialized) struct ModelLimitTests {
    static func yaml(_ upstream: MockUpstream) -> String {
        """
        providers:
          - {name: a, api_base: "\(upstream.baseURL)/v1", api_key: sk-up}
        master_keys:
          - name: team
            key: sk-team
            rate_limit: {requests_per_second: 0.1, burst_size: 4}
            model_limits:
              "gpt-4o": {requests_per_second: 0.1, burst_size: 1}
              "gpt-*": {requests_per_second: 0.1, burst_size: 2}
          - name: tokens
            key: sk-tokens
            model_limits:
              "big-*": {requests_per_second: 100, tokens_per_minute: 5}
        health_check: {enabled: false}
        """
    }

    @Test func aModelLimitRefusesItsModelsWhileTheKeysOwnLimitStillCounts() async throws {
        let upstream = try await MockUpstream()
        let yaml = Self.yaml(upstream)
        try await withGateway(yaml: yaml) { gateway in
            let first = try await TestClient.chat(port: gateway.port, model: "gpt-4o", key: "sk-team")
            #expect(first.status == 200)
            // The first matching pattern in file order is gpt-4o's, with a burst of 1.
            let second = try await TestClient.chat(port: gateway.port, model: "gpt-4o", key: "sk-team")
            #expect(second.status == 429 && second.errorCode == "rate_limit_exceeded")
            #expect(second.text.contains("for models matching 'gpt-4o'"))
            #expect(second.headers.first(name: "retry-after") != nil)
            #expect(second.headers.first(name: "x-ratelimit-limit-requests") == "1")
            #expect(second.headers.first(name: "x-ratelimit-remaining-requests") == "0")
            // Another model under another pattern still passes.
            #expect(try await TestClient.chat(port: gateway.port, model: "gpt-4.1", key: "sk-team").status == 200)

            // A reload keeps the buckets of keys and patterns that still exist.
            let config = try ConfigLoader.load(text: yaml, file: "test.yaml", environment: [:])
            gateway.gateway.install(RuntimeConfig(config: config, version: 2, sourcePath: "test.yaml"))
            try await Task.sleep(for: .milliseconds(50))
            let afterReload = try await TestClient.chat(port: gateway.port, model: "gpt-4o", key: "sk-team")
            #expect(afterReload.status == 429 && afterReload.text.contains("for models matching 'gpt-4o'"))

            // The key's own burst of 4 is spent now (refusals by a model limit count against it too), whatever the model.
            let keyLimited = try await TestClient.chat(port: gateway.port, model: "other", key: "sk-team")
            #expect(keyLimited.status == 429 && !keyLimited.text.contains("for models matching"))

            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            #expect(metrics.text.contains(#"llm_proxy_model_rate_limited_total{key="team",pattern="gpt-4o"} 2"#), "\(metrics.text.split(separator: "\n").filter { $0.contains("rate_limited") })")
            #expect(metrics.text.contains(#"llm_proxy_rate_limited_total{key="team"} 3"#))
            #expect(!metrics.text.contains("gpt-4.1\",pattern") && !metrics.text.contains("sk-team"))
        }
        await upstream.stop()
    }

    @Test func tokensPerMinuteOfAModelLimitAreChargedFromUsage() async throws {
        // Every answer reports total_tokens 4 (the mock upstream's okChat).
        let upstream = try await MockUpstream()
        try await withGateway(yaml: Self.yaml(upstream)) { gateway in
            #expect(try await TestClient.chat(port: gateway.port, model: "big-1", key: "sk-tokens").status == 200)
            #expect(try await TestClient.chat(port: gateway.port, model: "big-2", key: "sk-tokens").status == 200)
            let spent = try await TestClient.chat(port: gateway.port, model: "big-1", key: "sk-tokens")
            #expect(spent.status == 429 && spent.text.contains("tokens_per_minute"))
            // A model outside every pattern has no limit for this key.
            #expect(try await TestClient.chat(port: gateway.port, model: "small", key: "sk-tokens").status == 200)
        }
        await upstream.stop()
    }
}
