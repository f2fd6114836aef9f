import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// OpenAI's Responses API and the rest of OpenAI's JSON surface
/// (moderations, images, speech) through the gateway.
@Suite(.serialized) struct ResponsesAPITests {
    static let events = [
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":7,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":1},\"total_tokens\":10}}}\n\n",
    ]

    @Test func responsesAreRelayedToOpenAIAndAzureAndTheirUsageCounted() async throws {
        let upstream = try await MockUpstream { request in
            if request.bodyText.contains("\"stream\":true") {
                return .stream(chunks: request.bodyText.contains("cut") ? Array(Self.events.prefix(2)) : Self.events, interval: .milliseconds(2), cut: false)
            }
            return .json(#"{"id":"resp_2","object":"response","status":"completed","output":[],"usage":{"input_tokens":4,"output_tokens":6,"total_tokens":10}}"#)
        }
        try await withGateway(yaml: """
            providers:
              - name: openai
                api_base: \(upstream.baseURL)/v1
                api_key: sk-up
                model_mapping: {gpt-5: gpt-5-2025-08-07, "cut": cut}
              - name: azure
                type: azure
                api_base: \(upstream.baseURL)
                api_key: az-key
                model_mapping: {gpt-5-azure: my-gpt5-deployment}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let body = #"{"model":"gpt-5","input":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search"}],"reasoning":{"effort":"low"}}"#
            let plain = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: body, key: "sk-k")
            #expect(plain.status == 200 && plain.text.contains("resp_2"))
            var sent = try #require(upstream.requests.last)
            #expect(sent.uri == "/v1/responses" && sent.header("authorization") == "Bearer sk-up")
            #expect(sent.bodyText == body.replacingOccurrences(of: #""model":"gpt-5""#, with: #""model":"gpt-5-2025-08-07""#))

            let azure = try await TestClient.request(
                port: gateway.port, path: "/v1/responses", body: #"{"model":"gpt-5-azure","input":"hi"}"#, key: "sk-k")
            #expect(azure.status == 200)
            sent = try #require(upstream.requests.last)
            #expect(sent.uri == "/openai/v1/responses" && sent.header("api-key") == "az-key")
            #expect(sent.bodyText == #"{"model":"my-gpt5-deployment","input":"hi"}"#)

            let streamed = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: #"{"model":"gpt-5","stream":true,"input":"hi"}"#, key: "sk-k")
            #expect(streamed.text == Self.events.joined())

            // A stream cut before its terminal event ends with the Responses error event.
            let cut = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: #"{"model":"cut","stream":true,"input":"cut"}"#, key: "sk-k")
            #expect(cut.text.hasPrefix(Self.events[0] + Self.events[1]))
            let tail = String(cut.text.dropFirst((Self.events[0] + Self.events[1]).utf8.count))
            #expect(tail.hasPrefix("event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_stream_interrupted\",\"message\":"))
            #expect(tail.contains("\"error\":{\"type\":\"api_error\",\"code\":\"upstream_stream_interrupted\"") && tail.hasSuffix("}}\n\n"))

            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            // 4 + 4 from the bodies, 7 from the completed stream (its usage, not the cached or reasoning details).
            #expect(metrics.text.contains(#"llm_proxy_tokens_total{model="gpt-5",provider="openai",token_type="prompt_tokens"} 11"#), "\(metrics.text)")
            #expect(metrics.text.contains(#"llm_proxy_tokens_total{model="gpt-5",provider="openai",token_type="total_tokens"} 20"#))
            #expect(metrics.text.contains(#"llm_proxy_requests_total{endpoint="/v1/responses",model="gpt-5",provider="openai",status_code="200"} 2"#))
        }
        await upstream.stop()
    }

    @Test func moderationsImagesAndSpeechGoToTheirOpenAIPaths() async throws {
        let upstream = try await MockUpstream { request in
            request.uri.contains("speech") ? .respond(status: 200, headers: [("Content-Type", "audio/mpeg")], body: "ID3-audio-bytes") : .json(#"{"ok":true}"#)
        }
        try await withGateway(yaml: """
            providers:
              - name: openai
                api_base: \(upstream.baseURL)/v1
                api_key: sk-up
                model_mapping: {omni-moderation-latest: omni-moderation-latest, gpt-image-1: gpt-image-1, gpt-4o-mini-tts: gpt-4o-mini-tts}
              - {name: azure, type: azure, api_base: "\(upstream.baseURL)", api_key: az, model_mapping: {dall-e-azure: dalle-dep}}
              - {name: mock, type: mock, model_mapping: {mock-only: mock-only}}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let cases: [(path: String, model: String, upstream: String)] = [
                ("/v1/moderations", "omni-moderation-latest", "/v1/moderations"),
                ("/v1/images/generations", "gpt-image-1", "/v1/images/generations"),
                ("/v1/audio/speech", "gpt-4o-mini-tts", "/v1/audio/speech"),
                ("/v1/images/generations", "dall-e-azure", "/openai/deployments/dalle-dep/images/generations?api-version=2024-05-01-preview"),
            ]
            for item in cases {
                let response = try await TestClient.request(port: gateway.port, path: item.path, body: #"{"model":"\#(item.model)","input":"x"}"#, key: "sk-k")
                #expect(response.status == 200, "\(item.path)")
                #expect(upstream.requests.last?.uri == item.upstream)
                if item.path.contains("speech") { #expect(response.text == "ID3-audio-bytes" && response.headers.first(name: "content-type") == "audio/mpeg") }
            }
            // The mock serves neither: a model only it has is not found on these APIs.
            let moderation = try await TestClient.request(port: gateway.port, path: "/v1/moderations", body: #"{"model":"mock-only","input":"x"}"#, key: "sk-k")
            #expect(moderation.status == 404 && moderation.errorCode == "model_not_found")
        }
        await upstream.stop()
    }

    @Test func theMockAnswersResponses() async throws {
        try await withGateway(yaml: """
            providers:
              - {name: mock, type: mock}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let plain = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: #"{"model":"any","input":"echo this"}"#, key: "sk-k")
            #expect(plain.status == 200 && plain.json()["object"] as? String == "response" && plain.text.contains("echo this"))
            let streamed = try await TestClient.request(
                port: gateway.port, path: "/v1/responses", body: #"{"model":"any","stream":true,"input":[{"role":"user","content":"one two three"}]}"#, key: "sk-k")
            #expect(streamed.text.hasPrefix("event: response.created\n") && streamed.text.contains("event: response.completed\n"))
            #expect(!streamed.text.contains("upstream_stream_interrupted"))
        }
    }
}
