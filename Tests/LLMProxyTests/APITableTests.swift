import Foundation
@testable import LLMProxyCore
import NIOCore
import Testing

/// The API table as data: every inbound path of every row routes to that
/// row, each row's dialect renders the spec's shapes, and each row's stream
/// completion is recognised.
@Suite struct APITableTests {
    @Test func everyInboundPathOfEveryRowRoutesToIt() {
        for api in API.allCases {
            for inbound in api.row.inbound {
                let uri: String
                let pathModel: String?
                switch inbound {
                case .exact(let path):
                    (uri, pathModel) = (path, nil)
                case .azureDeployment(let operation):
                    (uri, pathModel) = ("/openai/deployments/my%20dep\(operation)?api-version=2024-05-01-preview", "my dep")
                case .googleModelAction(let action):
                    (uri, pathModel) = ("/v1beta/models/gemini-2.5-pro:\(action)?alt=sse", "gemini-2.5-pro")
                case .responseResource(let suffix):
                    (uri, pathModel) = ("/v1/responses/resp_a%2Fb\(suffix)", "resp_a/b")
                }
                let matched = GatewayRoute.match(method: api.row.method, uri: uri).route
                #expect(matched == .proxy(api, pathModel: pathModel), "\(uri) routed to \(matched)")
                #expect(GatewayRoute.match(method: .PATCH, uri: uri).route == .methodNotAllowed)
            }
        }
        #expect(GatewayRoute.match(method: .POST, uri: "/openai/deployments/d/responses-unknown").route == .notFound)
        #expect(GatewayRoute.match(method: .POST, uri: "/v1beta/models/m:countTokens").route == .notFound)
    }

    @Test func rowsSayWhichProviderTypesServeThem() {
        #expect(API.chatCompletions.row.isServed(by: .mock) && API.chatCompletions.row.isServed(by: .azure))
        #expect(API.geminiGenerateContent.row.isServed(by: .gemini))
        #expect(!API.geminiStreamGenerateContent.row.isServed(by: .openai) && !API.geminiGenerateContent.row.isServed(by: .mock))
        // One endpoint label per API, never a raw path.
        #expect(Set(API.allCases.map(\.row.endpointLabel)).count == API.allCases.count)
    }

    @Test func dialectsRenderTheSpecsShapes() throws {
        let error = OpenAIError.rateLimited(keyName: "k", retryAfter: 2, reason: "requests_per_second")
        let openAI = try json(ErrorDialect.openAI.body(error))["error"] as? [String: Any]
        #expect(openAI?["type"] as? String == "rate_limit_error" && openAI?["code"] as? String == "rate_limit_exceeded")
        #expect(openAI?.keys.contains("param") == true)

        let anthropic = try json(ErrorDialect.anthropic.body(error))
        #expect(anthropic["type"] as? String == "error")
        #expect((anthropic["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        #expect((anthropic["error"] as? [String: Any])?["message"] as? String == error.message)

        let google = try json(ErrorDialect.google.body(error))["error"] as? [String: Any]
        #expect(google?["code"] as? Int == 429 && google?["status"] as? String == "RESOURCE_EXHAUSTED")

        let statuses: [(OpenAIError, String, String)] = [
            (.invalidRequest("x"), "invalid_request_error", "INVALID_ARGUMENT"),
            (.invalidAPIKey(presented: true), "authentication_error", "UNAUTHENTICATED"),
            (.modelNotAllowed("m"), "permission_error", "PERMISSION_DENIED"),
            (.modelNotFound("m"), "not_found_error", "NOT_FOUND"),
            (.requestTooLarge(limit: 1), "request_too_large", "INVALID_ARGUMENT"),
            (.upstreamUnavailable("x"), "api_error", "UNAVAILABLE"),
            (.upstreamTimeout(seconds: 1), "api_error", "DEADLINE_EXCEEDED"),
        ]
        for (error, anthropicType, googleStatus) in statuses {
            #expect(ErrorDialect.anthropicType(status: error.status) == anthropicType, "\(error.status)")
            #expect(ErrorDialect.googleStatus(status: error.status) == googleStatus, "\(error.status)")
        }
        // Quotes and control characters in a message stay valid JSON.
        let awkward = OpenAIError.invalidRequest("a \"quoted\"\nline \\ end")
        for dialect in [ErrorDialect.openAI, .anthropic, .google] { _ = try json(dialect.body(awkward)) }
    }

    @Test func interruptionEventsAreOneEventEachInTheirDialect() throws {
        let openAI = StreamInterruption.openAI.event("cut")
        #expect(openAI.hasPrefix("data: {\"error\":") && openAI.hasSuffix("\n\n") && openAI.contains("upstream_stream_interrupted"))
        let anthropic = StreamInterruption.anthropic.event("cut")
        #expect(anthropic.hasPrefix("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream_stream_interrupted: "))
        let google = StreamInterruption.google.event("cut")
        #expect(google.hasPrefix("data: {\"error\":{\"code\":502,\"message\":\"upstream_stream_interrupted: "))
        let responses = StreamInterruption.responses.event("cut")
        #expect(responses.hasPrefix("event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_stream_interrupted\",\"message\":"))
        for event in [openAI, anthropic, google, responses] {
            let data = try #require(event.split(separator: "\n").first { $0.hasPrefix("data: ") })
            _ = try json(String(data.dropFirst(6)))
            #expect(event.components(separatedBy: "\n\n").count == 2, "one event: \(event)")
        }
    }

    @Test func aFinishReasonIsFoundWhereverTheReadsSplitIt() {
        let stream = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"
        let bytes = Array(stream.utf8)
        for split in 1..<bytes.count {
            var tracker = StreamCompletionTracker(.finishReason)
            tracker.observe(ByteBuffer(bytes: bytes[..<split]))
            tracker.observe(ByteBuffer(bytes: bytes[split...]))
            #expect(tracker.isComplete, "split at \(split)")
        }
        var cut = StreamCompletionTracker(.finishReason)
        cut.observe(ByteBuffer(string: "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"finishReason is not a key here\"}]}}]}\r\n\r\n"))
        #expect(!cut.isComplete)
        var done = StreamCompletionTracker(.doneSentinel)
        done.observe(ByteBuffer(string: "data: {}\n\ndata: [DONE]\n\n"))
        #expect(done.isComplete)
    }

    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }
}
