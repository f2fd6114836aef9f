import Foundation
import LLMProxyTestSupport
import Testing

/// The real `openai` (AzureOpenAI and OpenAI clients), `anthropic` and `google-genai`
/// Python SDKs against the gateway. `.ci/run` creates `.venv-sdk` with them;
/// without it the test is skipped, which the run's output shows.
@Suite(.serialized) struct SDKEndToEndTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = packageRoot.appendingPathComponent(".venv-sdk/bin/python")

    @Test(.enabled(if: FileManager.default.fileExists(atPath: python.path), "needs .venv-sdk (created by .ci/run)"))
    func openAIAnthropicAndGenAISDKsWorkUnchanged() async throws {
        let upstream = try await MockUpstream { request in
            if request.uri.hasSuffix("/responses") && request.bodyText.contains("\"agent-tools\"") {
                // An agent's tool call: first a function call, then, given its output, the answer.
                let common = #""object":"response","created_at":1,"status":"completed","model":"agent-tools","parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}"#
                if request.bodyText.contains("function_call_output") {
                    let sunny = request.bodyText.contains("sunny in Paris")
                    return .json(#"{"id":"resp_tool_2",\#(common),"output":[{"type":"message","id":"msg_t","status":"completed","role":"assistant","content":[{"type":"output_text","text":"\#(sunny ? "It is sunny in Paris." : "no tool output")","annotations":[]}]}]}"#)
                }
                return .json(#"{"id":"resp_tool_1",\#(common),"output":[{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}]}"#)
            }
            if request.uri.hasSuffix("/audio/transcriptions") {
                // The form's model field arrives replaced, the file intact.
                let replaced = request.bodyText.contains("\r\n\r\nwhisper-large-v3\r\n") && request.bodyText.contains("ID3-sdk-audio")
                return .json(#"{"text":"\#(replaced ? "replaced" : "not replaced")"}"#)
            }
            if request.uri.contains("/responses/") {
                // Holds no stored response: the gateway asks the mock, then this one.
                return .json(#"{"error":{"message":"Response with id 'x' not found.","type":"invalid_request_error","param":null,"code":null}}"#, status: 404)
            }
            if request.uri.contains("streamGenerateContent") {
                return .stream(chunks: [
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hello \"}],\"role\":\"model\"}}]}\r\n\r\n",
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"from gemini\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"}]}\r\n\r\n",
                ], interval: .milliseconds(5), cut: false)
            }
            if request.uri.contains("generateContent") {
                return .json(#"{"candidates":[{"content":{"parts":[{"text":"hello from gemini"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":3,"totalTokenCount":4}}"#)
            }
            return .stream(chunks: ["data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"cut\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"},\"finish_reason\":null}]}\n\n"],
                           interval: .milliseconds(5), cut: true)
        }
        try await withGateway(yaml: """
            provider_suffix: Proxy
            providers:
              - name: mock
                type: mock
                model_mapping: {demo: demo, "claude-*": mock-claude}
              - name: gemini
                type: gemini
                api_base: \(upstream.baseURL)/v1beta/openai
                api_key: AIzaUpstream
                model_mapping: {gemini-test: gemini-2.5-flash}
              - name: cutting
                api_base: \(upstream.baseURL)/v1
                api_key: sk-up
                model_mapping: {cut: cut, whisper-1: whisper-large-v3, agent-tools: agent-tools}
            master_keys:
              - {name: sdk, key: sk-sdk}
              - {name: limited, key: sk-sdk-limited, rate_limit: {requests_per_second: 0.2, burst_size: 1}}
            health_check: {enabled: false}
            """) { gateway in
            let process = Process()
            process.executableURL = Self.python
            process.arguments = [Self.packageRoot.appendingPathComponent("Tests/sdk/sdk_e2e.py").path]
            var environment = ProcessInfo.processInfo.environment
            environment["GATEWAY_URL"] = "http://127.0.0.1:\(gateway.port)"
            environment["GATEWAY_KEY"] = "sk-sdk"
            environment["GATEWAY_LIMITED_KEY"] = "sk-sdk-limited"
            // The anthropic SDK's own HTTP stack honours proxy variables.
            environment["NO_PROXY"] = "127.0.0.1"
            process.environment = environment
            let finished = try FinishedProcess.run(process)
            let text = finished.text
            print(text)
            #expect(finished.status == 0, "\(text)")
            #expect(text.contains("ALL OK"))
            #expect(!text.contains("skip google-genai"))
            #expect(!text.contains("skip anthropic"))
            #expect(!text.contains("skip openai-agents"))
        }
        await upstream.stop()
    }
}
