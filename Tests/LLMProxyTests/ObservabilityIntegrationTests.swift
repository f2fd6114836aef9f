import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Logging
import Synchronization
import Testing

@Suite(.serialized) struct ObservabilityIntegrationTests {
    @Test func burstOfTenGetsExactlyTwoThenRefillsPassAgain() async throws {
        let upstream = try await MockUpstream()
        let yaml = providersYAML([("a", upstream.baseURL, 1)]).replacingOccurrences(
            of: "    key: sk-test\n", with: "    key: sk-test\n    rate_limit: {requests_per_second: 0.2, burst_size: 2}\n")
        try await withGateway(yaml: yaml) { gateway in
            var statuses: [Int] = []
            var refused: TestResponse?
            for _ in 0..<10 {
                let response = try await TestClient.chat(port: gateway.port)
                statuses.append(response.status)
                if response.status == 429 { refused = response }
            }
            #expect(statuses.filter { $0 == 200 }.count == 2)
            #expect(statuses.prefix(2) == [200, 200])
            let limited = try #require(refused)
            #expect(limited.errorCode == "rate_limit_exceeded" && limited.errorType == "rate_limit_error")
            // Slow enough a refill (5 s) that a loaded machine's ten requests all fit in it: at
            // 2 s, a clean-clone CI run with every suite in parallel let a third one through.
            #expect((1...5).contains(Int(limited.headers.first(name: "retry-after") ?? "") ?? 0))
            #expect(limited.headers.first(name: "x-ratelimit-limit-requests") == "2")
            #expect(limited.headers.first(name: "x-ratelimit-remaining-requests") == "0")
            #expect(upstream.requests.count == 2)
            try await Task.sleep(for: .milliseconds(5100))
            let again = try await TestClient.chat(port: gateway.port)
            #expect(again.status == 200)
            #expect(again.headers.first(name: "x-ratelimit-remaining-requests") != nil)
            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            #expect(metrics.text.contains(#"llm_proxy_rate_limited_total{key="Test Key"} 8"#))
            #expect(!metrics.text.contains("sk-test"))
        }
        await upstream.stop()
    }

    @Test func everyAnswerCarriesItsRequestIDTheClientsWhenValid() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            let body = #"{"model":"m","messages":[]}"#
            let proxied = try await TestClient.request(
                port: gateway.port, path: "/v1/chat/completions", headers: [("X-Request-Id", "client-req-7")], body: body)
            #expect(proxied.status == 200 && proxied.headers.first(name: "x-request-id") == "client-req-7")
            #expect(upstream.requests.first?.header("x-request-id") == "client-req-7")
            // The gateway's own answers too; an id with a space is replaced by a generated one.
            let refused = try await TestClient.request(
                port: gateway.port, path: "/v1/chat/completions", headers: [("X-Request-Id", "bad id")], body: body, key: "sk-wrong")
            let generated = try #require(refused.headers.first(name: "x-request-id"))
            #expect(refused.status == 401 && generated.utf8.count == 16 && generated != "bad id")
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health", key: nil)
            #expect(health.headers.first(name: "x-request-id")?.utf8.count == 16)
            // Written once, not once per place that knows it.
            #expect(proxied.headers[canonicalForm: "x-request-id"].count == 1)
        }
        await upstream.stop()
    }

    @Test func tokensPerMinuteKeyIsRefusedOnceItsUsageIsSpent() async throws {
        let upstream = try await MockUpstream()  // every answer uses 4 tokens
        let yaml = providersYAML([("a", upstream.baseURL, 1)]).replacingOccurrences(
            of: "    key: sk-test\n", with: "    key: sk-test\n    rate_limit: {requests_per_second: 100, tokens_per_minute: 8}\n")
        try await withGateway(yaml: yaml) { gateway in
            var statuses: [Int] = []
            for _ in 0..<4 { statuses.append(try await TestClient.chat(port: gateway.port).status) }
            // 8 tokens a minute: two answers of 4 spend them.
            #expect(statuses == [200, 200, 429, 429])
            #expect(upstream.requests.count == 2)
        }
        await upstream.stop()
    }

    @Test func metricsShowEveryContractMetricWithItsLabels() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("boom") ? .json("{}", status: 500) : .okChat
        }
        try await withGateway(yaml: providersYAML(
            [("a", upstream.baseURL, 1), ("b", upstream.baseURL, 1)], mapping: "      gpt-4o: up-gpt\n      boom: boom\n")) { gateway in
            for _ in 0..<3 { #expect(try await TestClient.chat(port: gateway.port, model: "gpt-4o").status == 200) }
            #expect(try await TestClient.chat(port: gateway.port, model: "nope").status == 404)
            #expect(try await TestClient.chat(port: gateway.port, model: "boom").status == 500)
            let text = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil).text
            func value(_ prefix: String) -> Double {
                text.split(separator: "\n").filter { $0.hasPrefix(prefix) }.compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
            }
            #expect(value(#"llm_proxy_requests_total{endpoint="/v1/chat/completions",model="gpt-4o",provider="a",status_code="200"}"#)
                + value(#"llm_proxy_requests_total{endpoint="/v1/chat/completions",model="gpt-4o",provider="b",status_code="200"}"#) == 3)
            #expect(value(#"llm_proxy_requests_total{endpoint="/v1/chat/completions",model="unresolved",provider="",status_code="404"}"#) == 1)
            #expect(value(#"llm_proxy_tokens_total{model="gpt-4o",provider="a",token_type="total_tokens"}"#)
                + value(#"llm_proxy_tokens_total{model="gpt-4o",provider="b",token_type="total_tokens"}"#) == 12)
            #expect(value("llm_proxy_upstream_retries_total{") == 1)
            #expect(value(#"llm_proxy_request_duration_seconds_count{endpoint="/v1/chat/completions",model="gpt-4o""#) == 3)
            #expect(value(#"llm_proxy_time_to_first_byte_seconds_count{model="gpt-4o""#) == 3)
            #expect(text.contains("llm_proxy_active_requests 0"))
            #expect(text.contains(#"llm_proxy_provider_health{provider="a"} 1"#))
            #expect(text.contains(#"llm_proxy_config_reloads_total{result="failure"} 0"#))
            #expect(!text.contains("nope"))
        }
        await upstream.stop()
    }

    @Test func accessLogLineCarriesTheRequestIDReturnedToTheClient() async throws {
        let upstream = try await MockUpstream()
        let lines = LogCapture()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)]), logCapture: lines) { gateway in
            let response = try await TestClient.chat(port: gateway.port)
            let id = try #require(response.headers.first(name: "x-request-id"))
            #expect(upstream.requests.first?.header("x-request-id") == id)
            let given = try await TestClient.chat(port: gateway.port, extraHeaders: [("X-Request-Id", "trace-abc-123")])
            #expect(given.headers.first(name: "x-request-id") == "trace-abc-123")
            // Access lines are written in batches, about once a second, one
            // batch per event loop: the two requests may have had different loops.
            try await waitUntil(seconds: 5) {
                lines.entries.contains { $0.metadata["request_id"] == "trace-abc-123" } && lines.entries.contains { $0.metadata["request_id"] == id }
            }
            let entry = try #require(lines.entries.first { $0.metadata["request_id"] == id })
            #expect(entry.metadata["key"] == "Test Key" && entry.metadata["model"] == "demo" && entry.metadata["provider"] == "a")
            #expect(entry.metadata["status"] == "200" && entry.metadata["total_tokens"] == "4" && entry.metadata["duration_ms"] != nil)
            #expect(lines.entries.contains { $0.metadata["request_id"] == "trace-abc-123" })
            #expect(!lines.entries.contains { $0.description.contains("sk-test") || $0.description.contains("hello") })
        }
        await upstream.stop()
    }
}
