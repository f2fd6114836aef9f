import Foundation
import LLMProxyTestSupport
import Testing

/// What each provider type receives on the wire, and the Azure and
/// Gemini-native inbound paths.
@Suite(.serialized) struct ProviderIntegrationTests {
    static let keys = "master_keys:\n  - {name: k, key: sk-test}\nhealth_check: {enabled: false}\n"

    @Test func azureProviderGetsDeploymentPathApiVersionAndApiKey() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("\"stream\":true")
                ? .stream(chunks: ["data: {\"x\":1}\n\n", "data: [DONE]\n\n"], interval: .milliseconds(5), cut: false) : .okChat
        }
        try await withGateway(yaml: """
            providers:
              - name: azure-east
                type: azure
                api_base: \(upstream.baseURL)
                api_key: azure-secret
                model_mapping: {gpt-4o: my-gpt4o-deployment, text-embedding-3-small: emb-deploy}
              - name: foundry
                type: azure
                api_base: \(upstream.baseURL)/openai
                api_key: foundry-secret
                api_version: 2025-01-01-preview
                model_mapping: {gpt-4.1: gpt41}
            \(Self.keys)
            """) { gateway in
            #expect(try await TestClient.chat(port: gateway.port, model: "gpt-4o").status == 200)
            var request = try #require(upstream.requests.last)
            #expect(request.method == "POST")
            #expect(request.uri == "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-05-01-preview")
            #expect(request.header("api-key") == "azure-secret" && request.header("authorization") == nil)
            #expect(request.bodyText.contains(#""model":"my-gpt4o-deployment""#))

            let stream = try await TestClient.chat(port: gateway.port, model: "gpt-4o", stream: true)
            #expect(stream.text.hasSuffix("data: [DONE]\n\n"))
            #expect(upstream.requests.last?.uri == "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-05-01-preview")

            _ = try await TestClient.request(port: gateway.port, path: "/v1/embeddings", body: #"{"model":"text-embedding-3-small","input":"x"}"#)
            #expect(upstream.requests.last?.uri == "/openai/deployments/emb-deploy/embeddings?api-version=2024-05-01-preview")

            _ = try await TestClient.chat(port: gateway.port, model: "gpt-4.1")
            request = try #require(upstream.requests.last)
            #expect(request.uri == "/openai/deployments/gpt41/chat/completions?api-version=2025-01-01-preview")
            #expect(request.header("api-key") == "foundry-secret")
        }
        await upstream.stop()
    }

    @Test func geminiProviderUsesOpenAICompatibleEndpointWithBearerAndGoogKey() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: """
            providers:
              - name: gemini
                type: gemini
                api_base: \(upstream.baseURL)/v1beta/openai
                api_key: AIzaTestKey
                model_mapping: {"gemini-*": gemini-2.5-flash}
            \(Self.keys)
            """) { gateway in
            #expect(try await TestClient.chat(port: gateway.port, model: "gemini-pro").status == 200)
            let request = try #require(upstream.requests.last)
            #expect(request.uri == "/v1beta/openai/chat/completions")
            #expect(request.header("authorization") == "Bearer AIzaTestKey")
            #expect(request.header("x-goog-api-key") == "AIzaTestKey")
            #expect(request.bodyText.contains(#""model":"gemini-2.5-flash""#))
        }
        await upstream.stop()
    }

    @Test func azureInboundPathResolvesTheDeploymentAsTheModel() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: """
            providers:
              - name: openai
                api_base: \(upstream.baseURL)/v1
                api_key: sk-openai
                model_mapping: {gpt-4o: gpt-4o-2024-08-06}
            \(Self.keys)
            """) { gateway in
            let body = #"{"messages":[{"role":"user","content":"hi"}]}"#
            let response = try await TestClient.request(
                port: gateway.port, path: "/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01",
                headers: [("api-key", "sk-test")], body: body, key: nil)
            #expect(response.status == 200)
            let request = try #require(upstream.requests.last)
            #expect(request.uri == "/v1/chat/completions")
            #expect(request.header("authorization") == "Bearer sk-openai" && request.header("api-key") == nil)
            // The body had no model; the path's deployment decides, and the body goes as sent.
            #expect(request.bodyText == body)
            let unknown = try await TestClient.request(
                port: gateway.port, path: "/openai/deployments/nope/chat/completions?api-version=2024-06-01",
                headers: [("api-key", "sk-test")], body: body, key: nil)
            #expect(unknown.status == 404 && unknown.errorCode == "model_not_found")
        }
        await upstream.stop()
    }

    @Test func geminiNativePathIsRelayedUnchangedToGeminiProviders() async throws {
        let upstream = try await MockUpstream { request in
            request.uri.contains("streamGenerateContent")
                ? .stream(chunks: ["data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"he\"}]}}]}\r\n\r\n",
                                   "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"llo\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"totalTokenCount\":5}}\r\n\r\n"],
                          interval: .milliseconds(5), cut: false)
                : .json(#"{"candidates":[{"content":{"parts":[{"text":"hello"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}"#)
        }
        try await withGateway(yaml: """
            providers:
              - name: gemini
                type: gemini
                api_base: \(upstream.baseURL)/v1beta/openai
                api_key: AIzaProviderKey
                model_mapping: {gemini-2.5-pro: gemini-2.5-pro-002}
              - name: openai-only
                api_base: \(upstream.baseURL)/v1
                api_key: sk-o
                model_mapping: {gpt-4o: gpt-4o}
            \(Self.keys)
            """) { gateway in
            let body = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":128}}}"#
            let plain = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gemini-2.5-pro:generateContent", headers: [("x-goog-api-key", "sk-test")], body: body, key: nil)
            #expect(plain.status == 200 && plain.text.contains("hello"))
            var request = try #require(upstream.requests.last)
            #expect(request.uri == "/v1beta/models/gemini-2.5-pro-002:generateContent")
            #expect(request.bodyText == body)
            #expect(request.header("x-goog-api-key") == "AIzaProviderKey")

            let streamed = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=sk-test", body: body, key: nil)
            #expect(streamed.status == 200)
            #expect(streamed.text.contains("llo") && !streamed.text.contains("upstream_stream_interrupted"))
            request = try #require(upstream.requests.last)
            #expect(request.uri == "/v1beta/models/gemini-2.5-pro-002:streamGenerateContent?alt=sse")
            #expect(!request.uri.contains("sk-test") && !request.headers.contains { $0.1.contains("sk-test") })

            // Google's native API exists only at gemini providers; its errors are in Google's shape.
            let notGemini = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gpt-4o:generateContent", headers: [("x-goog-api-key", "sk-test")], body: body, key: nil)
            #expect(notGemini.status == 404)
            let notFound = try #require(notGemini.json()["error"] as? [String: Any])
            #expect(notFound["code"] as? Int == 404 && notFound["status"] as? String == "NOT_FOUND")
            #expect((notFound["message"] as? String)?.contains("gpt-4o") == true)
        }
        await upstream.stop()
    }

    @Test func geminiNativeErrorsAndCutStreamsAreInGooglesShape() async throws {
        let upstream = try await MockUpstream { request in
            // A stream without a chunk that has a finishReason was cut.
            .stream(chunks: ["data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"he\"}]}}]}\r\n\r\n"], interval: .milliseconds(5), cut: false)
        }
        try await withGateway(yaml: """
            providers:
              - name: gemini
                type: gemini
                api_base: \(upstream.baseURL)/v1beta
                api_key: AIzaProviderKey
            \(Self.keys)
            """) { gateway in
            let body = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#
            let cut = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", headers: [("x-goog-api-key", "sk-test")],
                body: body, key: nil)
            #expect(cut.status == 200)
            // The provider's chunk, then Google's error event as the last one.
            let marker = try #require(cut.text.range(of: "data: {\"error\":{\"code\":502,\"message\":\"upstream_stream_interrupted: "))
            #expect(cut.text[..<marker.lowerBound].hasPrefix("data: {\"candidates\""))
            #expect(cut.text.hasSuffix("\"status\":\"UNAVAILABLE\"}}\n\n"))

            let unauthenticated = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gemini-2.5-pro:generateContent", body: body, key: nil)
            #expect(unauthenticated.status == 401)
            let error = try #require(unauthenticated.json()["error"] as? [String: Any])
            #expect(error["code"] as? Int == 401 && error["status"] as? String == "UNAUTHENTICATED" && error["message"] is String)
            #expect(error["type"] == nil)

            let unknownAction = try await TestClient.request(
                port: gateway.port, path: "/v1beta/models/gemini-2.5-pro:countTokens", headers: [("x-goog-api-key", "sk-test")], body: body, key: nil)
            #expect(unknownAction.status == 404)
            #expect((unknownAction.json()["error"] as? [String: Any])?["status"] as? String == "NOT_FOUND")

            // The OpenAI paths keep OpenAI's shape.
            let openAI = try await TestClient.chat(port: gateway.port, key: "sk-wrong")
            #expect(openAI.status == 401 && openAI.errorType == "authentication_error" && openAI.errorCode == "invalid_api_key")
        }
        await upstream.stop()
    }
}
