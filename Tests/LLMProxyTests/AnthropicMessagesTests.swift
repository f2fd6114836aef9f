import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// Anthropic's Messages API through the gateway, against an Anthropic-shaped
/// mock upstream on a real socket.
@Suite(.serialized) struct AnthropicMessagesTests {
    static func yaml(_ upstream: MockUpstream, extra: String = "") -> String {
        """
        providers:
          - name: claude
            type: anthropic
            api_base: \(upstream.baseURL)
            api_key: sk-ant-upstream
            model_mapping: {claude-sonnet: claude-sonnet-4-5-20250929}
          - name: openai
            api_base: \(upstream.baseURL)/v1
            api_key: sk-openai
            model_mapping: {gpt-4o: gpt-4o}
        master_keys:
          - name: team
            key: sk-team
            rate_limit: {requests_per_second: 1, burst_size: 1, tokens_per_minute: 100000}
          - name: open
            key: sk-open
        health_check: {enabled: false}
        \(extra)
        """
    }

    static let stream = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"the word \\\"type\\\":\\\"message_stop\\\" in text\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ]

    @Test func messagesAreRelayedWithTheProvidersKeyAndOnlyTheModelReplaced() async throws {
        let upstream = try await MockUpstream { request in
            if request.uri.hasSuffix("/count_tokens") { return .json(#"{"input_tokens":42}"#) }
            if request.bodyText.contains("\"stream\":true") { return .stream(chunks: Self.stream, interval: .milliseconds(2), cut: false) }
            return .json(#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"t1","name":"get","input":{"model":"x"}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}}"#)
        }
        try await withGateway(yaml: Self.yaml(upstream)) { gateway in
            let body = #"{"model":"claude-sonnet","max_tokens":64,"tools":[{"name":"get","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}"#
            let plain = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-open"), ("anthropic-beta", "tools-2024-04-04")], body: body, key: nil)
            #expect(plain.status == 200 && plain.text.contains("\"tool_use\""))
            let sent = try #require(upstream.requests.last)
            #expect(sent.uri == "/v1/messages")
            #expect(sent.header("x-api-key") == "sk-ant-upstream")
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("anthropic-beta") == "tools-2024-04-04")
            #expect(sent.header("authorization") == nil)
            #expect(!sent.headers.contains { $0.1.contains("sk-open") })
            #expect(sent.bodyText == body.replacingOccurrences(of: #""model":"claude-sonnet""#, with: #""model":"claude-sonnet-4-5-20250929""#))

            // Claude Code with ANTHROPIC_AUTH_TOKEN: the key as a bearer token, and its own version.
            let bearer = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("anthropic-version", "2024-01-01")], body: body, key: "sk-open")
            #expect(bearer.status == 200)
            let second = try #require(upstream.requests.last)
            #expect(second.header("anthropic-version") == "2024-01-01")
            #expect(second.headers.filter { $0.0.lowercased() == "anthropic-version" }.count == 1)
            #expect(!second.headers.contains { $0.1.contains("sk-open") })

            let streamed = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-open")],
                body: body.replacingOccurrences(of: "\"max_tokens\":64", with: "\"max_tokens\":64,\"stream\":true"), key: nil)
            #expect(streamed.status == 200 && streamed.text == Self.stream.joined())

            let counted = try await TestClient.request(
                port: gateway.port, path: "/v1/messages/count_tokens", headers: [("x-api-key", "sk-open")], body: #"{"model":"claude-sonnet","messages":[]}"#, key: nil)
            #expect(counted.status == 200 && counted.text == #"{"input_tokens":42}"#)
            #expect(upstream.requests.last?.uri == "/v1/messages/count_tokens")

            // Usage: 10 + 5 twice, 25 + 15 from the stream's events, count_tokens' 42 as input.
            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            #expect(metrics.text.contains(#"llm_proxy_tokens_total{model="claude-sonnet",provider="claude",token_type="prompt_tokens"} 87"#), "\(metrics.text)")
            #expect(metrics.text.contains(#"llm_proxy_tokens_total{model="claude-sonnet",provider="claude",token_type="completion_tokens"} 25"#))
            #expect(metrics.text.contains(#"llm_proxy_requests_total{endpoint="/v1/messages",model="claude-sonnet",provider="claude",status_code="200"} 3"#))
        }
        await upstream.stop()
    }

    @Test func everyErrorIsInAnthropicsShape() async throws {
        let upstream = try await MockUpstream { _ in .stream(chunks: [Self.stream[0], Self.stream[1]], interval: .milliseconds(2), cut: true) }
        try await withGateway(yaml: Self.yaml(upstream, extra: "server: {max_body_bytes: 300}")) { gateway in
            func anthropicError(_ response: TestResponse) -> (type: String?, message: String?) {
                let json = response.json()
                let error = json["error"] as? [String: Any]
                return (json["type"] as? String == "error" ? error?["type"] as? String : nil, error?["message"] as? String)
            }
            let body = #"{"model":"claude-sonnet","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#
            let cases: [(headers: [(String, String)], body: String, path: String, status: Int, type: String)] = [
                ([], body, "/v1/messages", 401, "authentication_error"),
                ([("x-api-key", "sk-wrong")], body, "/v1/messages", 401, "authentication_error"),
                ([("x-api-key", "sk-open")], #"{"model":"gpt-4o","messages":[]}"#, "/v1/messages", 404, "not_found_error"),
                ([("x-api-key", "sk-open")], #"{"model":"nope","messages":[]}"#, "/v1/messages", 404, "not_found_error"),
                ([("x-api-key", "sk-open")], #"{"messages":[]}"#, "/v1/messages", 400, "invalid_request_error"),
                ([("x-api-key", "sk-open")], "{" + String(repeating: " ", count: 400) + "}", "/v1/messages", 413, "request_too_large"),
            ]
            for item in cases {
                let response = try await TestClient.request(port: gateway.port, path: item.path, headers: item.headers, body: item.body, key: nil)
                #expect(response.status == item.status, "\(item.headers) \(item.body.prefix(40))")
                #expect(anthropicError(response).type == item.type, "\(response.text)")
                #expect(!response.text.contains("sk-"))
            }
            // The key's limit: the second request within a second is refused, with Retry-After.
            _ = try await TestClient.request(port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-team")], body: body, key: nil)
            let limited = try await TestClient.request(port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-team")], body: body, key: nil)
            #expect(limited.status == 429 && anthropicError(limited).type == "rate_limit_error")
            #expect(limited.headers.first(name: "retry-after") != nil)

            // A stream the provider cuts ends with Anthropic's error event.
            let cut = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-open")],
                body: body.replacingOccurrences(of: "\"max_tokens\":8", with: "\"max_tokens\":8,\"stream\":true"), key: nil)
            #expect(cut.text.hasPrefix(Self.stream[0] + Self.stream[1]))
            #expect(cut.text.hasSuffix("\"}}\n\n"))
            let last = try #require(cut.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.last)
            #expect(last.hasPrefix("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream_stream_interrupted: "))
        }
        // 403 for a model the key may not use, 504 for a provider that never answers.
        let hanging = try await MockUpstream { _ in .hang }
        try await withGateway(yaml: """
            providers:
              - {name: claude, type: anthropic, api_base: "\(hanging.baseURL)", api_key: sk-ant}
            master_keys:
              - {name: k, key: sk-k}
              - {name: narrow, key: sk-narrow, allowed_models: ["claude-haiku*"]}
            server: {request_timeout_seconds: 0.3}
            health_check: {enabled: false}
            """) { gateway in
            let forbidden = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-narrow")], body: #"{"model":"claude-opus","messages":[]}"#, key: nil)
            #expect(forbidden.status == 403)
            #expect((forbidden.json()["error"] as? [String: Any])?["type"] as? String == "permission_error")
            let timedOut = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-k")], body: #"{"model":"claude-opus","messages":[]}"#, key: nil)
            #expect(timedOut.status == 504)
            #expect(timedOut.json()["type"] as? String == "error" && (timedOut.json()["error"] as? [String: Any])?["type"] as? String == "api_error")
        }
        await hanging.stop()
        // A provider that is down: 502 in Anthropic's shape.
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        try await withGateway(yaml: """
            providers:
              - {name: claude, type: anthropic, api_base: "http://127.0.0.1:\(closedPort)", api_key: sk-ant}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let down = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-k")], body: #"{"model":"claude-x","messages":[]}"#, key: nil)
            #expect(down.status == 502)
            #expect((down.json()["error"] as? [String: Any])?["type"] as? String == "api_error")
        }
        await upstream.stop()
    }

    @Test func theMockAnswersMessages() async throws {
        try await withGateway(yaml: """
            providers:
              - {name: mock, type: mock, model_mapping: {"claude-*": mock-claude}}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let reply = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-k")],
                body: #"{"model":"claude-haiku","max_tokens":8,"messages":[{"role":"user","content":"echo me"}]}"#, key: nil)
            #expect(reply.status == 200)
            #expect(reply.json()["type"] as? String == "message" && reply.text.contains("echo me"))
            let streamed = try await TestClient.request(
                port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-k")],
                body: #"{"model":"claude-haiku","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"a b c d e"}]}"#, key: nil)
            #expect(streamed.text.hasPrefix("event: message_start\n") && streamed.text.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
            #expect(!streamed.text.contains("upstream_stream_interrupted"))
            let counted = try await TestClient.request(
                port: gateway.port, path: "/v1/messages/count_tokens", headers: [("x-api-key", "sk-k")],
                body: #"{"model":"claude-haiku","messages":[{"role":"user","content":"twelve chars"}]}"#, key: nil)
            #expect(counted.json()["input_tokens"] as? Int == 3)
            // OpenAI's API is not served by an anthropic-only route, and the mock answers chat as before.
            let chat = try await TestClient.request(port: gateway.port, path: "/v1/chat/completions", body: #"{"model":"claude-haiku","messages":[]}"#, key: "sk-k")
            #expect(chat.status == 200)
        }
    }

    @Test func anAnthropicProviderIsProbedAtV1ModelsAndListsItsModels() async throws {
        let upstream = try await MockUpstream { request in
            request.method == "GET" ? .json(#"{"data":[{"id":"claude-opus-4-1","type":"model"}],"has_more":false}"#) : .json("{}")
        }
        try await withGateway(yaml: """
            providers:
              - {name: claude, type: anthropic, api_base: "\(upstream.baseURL)", api_key: sk-ant}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: true, interval_seconds: 0.2}
            """) { gateway in
            try await waitUntil(seconds: 3) { upstream.requests.contains { $0.method == "GET" } }
            let probe = try #require(upstream.requests.first { $0.method == "GET" })
            #expect(probe.uri == "/v1/models" && probe.header("x-api-key") == "sk-ant" && probe.header("anthropic-version") == "2023-06-01")
            let models = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/models", key: "sk-k")
            #expect(models.text.contains("claude-opus-4-1"))
            // An anthropic provider does not serve OpenAI's API.
            let chat = try await TestClient.chat(port: gateway.port, model: "claude-opus-4-1", key: "sk-k")
            #expect(chat.status == 404 && chat.errorCode == "model_not_found")
        }
        await upstream.stop()
    }
}
