import Foundation
@testable import LLMProxyCore
import LLMProxyTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Response affinity: calls that name an earlier response reach the
/// provider that created it, from memory when the gateway relayed the
/// creation, and by asking the candidates in turn (a 404 moves on, counting
/// neither as a failure nor as a retry) when it did not.
@Suite(.serialized) struct ResponseAffinityTests {
    // MARK: - Parts without sockets

    @Test func theLRUEvictsTheLeastRecentlyUsedAndForgets() {
        let affinity = ResponseAffinity(capacity: 3)
        affinity.remember("a", provider: "p1")
        affinity.remember("b", provider: "p2")
        affinity.remember("c", provider: "p1")
        #expect(affinity.provider(of: "a") == "p1")  // a is now the newest
        affinity.remember("d", provider: "p3")  // evicts b
        #expect(affinity.provider(of: "b") == nil && affinity.count == 3)
        #expect(affinity.provider(of: "c") == "p1" && affinity.provider(of: "d") == "p3")
        affinity.remember("a", provider: "p2")  // moved
        #expect(affinity.provider(of: "a") == "p2")
        affinity.forget("c")
        #expect(affinity.provider(of: "c") == nil && affinity.count == 2)
        affinity.remember("e", provider: "p1")
        affinity.remember("f", provider: "p1")  // full again: evicts the oldest, d
        #expect(affinity.count == 3 && affinity.provider(of: "d") == nil && affinity.provider(of: "a") == "p2")
        // At the spec's size, and past it: bounded.
        let large = ResponseAffinity()
        for index in 0..<(ResponseAffinity.defaultCapacity + 500) { large.remember("resp_\(index)", provider: "p\(index % 3)") }
        #expect(large.count == ResponseAffinity.defaultCapacity)
        #expect(large.provider(of: "resp_499") == nil && large.provider(of: "resp_500") == "p2")
    }

    @Test func theResponseIDIsFoundWhereverTheReadsSplitIt() {
        let bodies = [
            #"{"id": "resp_abc123","object":"response","output":[{"id":"msg_1"}]}"#,
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_s1\",\"status\":\"in_progress\"}}\n\n",
            #"{"object":"id","note":"\"id\": fake","id"  :  "resp_late"}"#,
        ]
        let expected = ["resp_abc123", "resp_s1", "resp_late"]
        for (body, id) in zip(bodies, expected) {
            let bytes = Array(body.utf8)
            for split in 0..<bytes.count {
                var scanner = ResponseIDScanner()
                scanner.observe(ByteBuffer(bytes: bytes[..<split]))
                scanner.observe(ByteBuffer(bytes: bytes[split...]))
                #expect(scanner.id == id, "split at \(split) of \(body)")
            }
        }
        var none = ResponseIDScanner()
        none.observe(ByteBuffer(string: #"{"id": 12, "x": "resp_1"}"#))
        #expect(none.id == nil && none.isDone)
        var far = ResponseIDScanner()
        far.observe(ByteBuffer(string: "{\"pad\":\"" + String(repeating: "x", count: ResponseIDScanner.searchLimit) + "\",\"id\":\"resp_far\"}"))
        #expect(far.id == nil && far.isDone)
    }

    @Test func previousResponseIDIsReadOnTheModelScan() throws {
        func fields(_ body: String) throws -> ModelFieldScanner.Fields {
            try Array(body.utf8).withUnsafeBytes { bytes in try ModelFieldScanner.scanFields(bytes) }
        }
        var scanned = try fields(#"{"model":"gpt-5","previous_response_id":"resp_1","input":"x"}"#)
        #expect(scanned.model?.model == "gpt-5" && scanned.previousResponseID == "resp_1")
        scanned = try fields(#"{"previous_response_id": null, "model":"gpt-5"}"#)
        #expect(scanned.previousResponseID == nil && scanned.model?.model == "gpt-5")
        scanned = try fields(#"{"input":[{"previous_response_id":"resp_nested"}],"model":"m"}"#)
        #expect(scanned.previousResponseID == nil)
        scanned = try fields(#"{"previous_response_id":"resp_first","model":"m"}"#)
        #expect(scanned.previousResponseID == "resp_first")
    }

    @Test func aNotFoundMovesOnWithoutSpendingTheBudget() {
        var machine = ExchangeStateMachine(
            candidates: 3, maxAttempts: 1, streamCompletion: .responseTerminal, requestTimeoutSeconds: 30, movesOnAtNotFound: true)
        #expect(machine.nextAttempt() == .pickCandidate)
        #expect(machine.candidatePicked(0) == .connect(candidate: 0, fresh: false, isRetry: false))
        #expect(machine.connectionReady(reused: false) == .sendRequest)
        let notFound = HTTPResponseHead(version: .http1_1, status: .notFound)
        #expect(machine.responseHead(notFound, isEventStream: false, contentLength: 10) == .readRetryableAnswer(candidate: 0, healthFailure: nil))
        #expect(machine.responseEnd(reusable: true) == .attemptFailed(candidate: 0, reason: "HTTP 404, not created here", kind: .status(404), countsAgainstHealth: false, reusable: true))
        // One attempt allowed, yet the second candidate is asked, and not as a retry.
        #expect(machine.nextAttempt() == .pickCandidate)
        #expect(machine.candidatePicked(1) == .connect(candidate: 1, fresh: false, isRetry: false))
        _ = machine.connectionReady(reused: false)
        guard case .relayHead = machine.responseHead(HTTPResponseHead(version: .http1_1, status: .ok), isEventStream: false, contentLength: 2) else {
            Issue.record("a 200 is relayed")
            return
        }
        #expect(machine.retries == 0)

        // The last candidate's 404 is the answer.
        var last = ExchangeStateMachine(candidates: 1, maxAttempts: 2, streamCompletion: .responseTerminal, requestTimeoutSeconds: 30, movesOnAtNotFound: true)
        _ = last.nextAttempt()
        _ = last.candidatePicked(0)
        _ = last.connectionReady(reused: false)
        guard case .relayHead = last.responseHead(notFound, isEventStream: false, contentLength: 2) else {
            Issue.record("the last 404 is relayed")
            return
        }
        // Without affinity in play a 404 is an answer like any other.
        var plain = ExchangeStateMachine(candidates: 2, maxAttempts: 2, streamCompletion: .doneSentinel, requestTimeoutSeconds: 30)
        _ = plain.nextAttempt()
        _ = plain.candidatePicked(0)
        _ = plain.connectionReady(reused: false)
        guard case .relayHead = plain.responseHead(notFound, isEventStream: false, contentLength: 2) else {
            Issue.record("a 404 without affinity is relayed")
            return
        }
    }

    @Test func storedResponsePathsRouteByMethod() {
        #expect(GatewayRoute.match(method: .GET, uri: "/v1/responses/resp_1").route == .proxy(.responsesRetrieve, pathModel: "resp_1"))
        #expect(GatewayRoute.match(method: .GET, uri: "/v1/responses/resp_1?include[]=x").route == .proxy(.responsesRetrieve, pathModel: "resp_1"))
        #expect(GatewayRoute.match(method: .DELETE, uri: "/v1/responses/resp_1").route == .proxy(.responsesDelete, pathModel: "resp_1"))
        #expect(GatewayRoute.match(method: .POST, uri: "/v1/responses/resp_1/cancel").route == .proxy(.responsesCancel, pathModel: "resp_1"))
        #expect(GatewayRoute.match(method: .GET, uri: "/responses/resp_1/input_items?limit=2").route == .proxy(.responsesInputItems, pathModel: "resp_1"))
        #expect(GatewayRoute.match(method: .PUT, uri: "/v1/responses/resp_1").route == .methodNotAllowed)
        #expect(GatewayRoute.match(method: .GET, uri: "/v1/responses/resp_1/cancel").route == .methodNotAllowed)
        #expect(GatewayRoute.match(method: .GET, uri: "/v1/responses/resp_1/other").route == .notFound)
        #expect(GatewayRoute.match(method: .GET, uri: "/v1/responses/").route == .notFound)
        #expect(GatewayRoute.match(method: .POST, uri: "/v1/responses").route == .proxy(.responses, pathModel: nil))
    }

    // MARK: - Through the gateway

    /// A provider that stores the responses it creates, as OpenAI does:
    /// calls naming another provider's response get OpenAI's 404.
    final class StoringProvider: Sendable {
        let name: String
        private let stored = Mutex<Set<String>>([])
        private let counter = Mutex(0)
        init(name: String) { self.name = name }

        func answer(_ request: RecordedRequest) -> UpstreamBehavior {
            let path = String(request.uri.prefix { $0 != "?" })
            if request.method == "POST" && path == "/v1/responses" {
                if let previous = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["previous_response_id"] as? String,
                    !stored.withLock({ $0.contains(previous) })
                {
                    return .json(
                        #"{"error":{"message":"Previous response with id '\#(previous)' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}"#,
                        status: 404)
                }
                let id = "resp_\(name)_\(counter.withLock { $0 += 1; return $0 })"
                stored.withLock { _ = $0.insert(id) }
                if request.bodyText.contains("\"stream\":true") {
                    return .stream(chunks: [
                        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"\(id)\",\"status\":\"in_progress\"}}\n\n",
                        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,\"response\":{\"id\":\"\(id)\",\"status\":\"completed\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1,\"total_tokens\":2}}}\n\n",
                    ], interval: .milliseconds(1), cut: false)
                }
                return .json(#"{"id":"\#(id)","object":"response","status":"completed","output":[],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}"#)
            }
            let parts = path.split(separator: "/").map(String.init)  // v1, responses, id[, action]
            guard parts.count >= 3, parts[1] == "responses", stored.withLock({ $0.contains(parts[2]) }) else {
                return .json(#"{"error":{"message":"Response not found.","type":"invalid_request_error","param":null,"code":null}}"#, status: 404)
            }
            let id = parts[2]
            switch (request.method, parts.count > 3 ? parts[3] : "") {
            case ("DELETE", ""):
                stored.withLock { _ = $0.remove(id) }
                return .json(#"{"id":"\#(id)","object":"response.deleted","deleted":true}"#)
            case ("GET", "input_items"):
                return .json(#"{"object":"list","data":[],"has_more":false,"query":"\#(request.uri)"}"#)
            case ("POST", "cancel"):
                return .json(#"{"id":"\#(id)","object":"response","status":"cancelled"}"#)
            default:
                return .json(#"{"id":"\#(id)","object":"response","status":"completed","holder":"\#(name)"}"#)
            }
        }
    }

    static func yaml(_ upstreams: [(String, MockUpstream)], maxAttempts: Int = 2) -> String {
        """
        providers:
        \(upstreams.map { "  - {name: \($0.0), api_base: \"\($0.1.baseURL)/v1\", api_key: sk-\($0.0), model_mapping: {gpt-5: gpt-5}}" }.joined(separator: "\n"))
        master_keys: [{name: k, key: sk-k}]
        health_check: {enabled: false}
        retry: {max_attempts: \(maxAttempts)}
        """
    }

    @Test func followUpsAndStoredResponseCallsReachTheCreator() async throws {
        let providers = [StoringProvider(name: "a"), StoringProvider(name: "b"), StoringProvider(name: "c")]
        var upstreams: [(String, MockUpstream)] = []
        for provider in providers { upstreams.append((provider.name, try await MockUpstream { provider.answer($0) })) }
        func requestCount() -> Int { upstreams.reduce(0) { $0 + $1.1.requests.count } }

        var created: [String] = []
        try await withGateway(yaml: Self.yaml(upstreams)) { gateway in
            // Round-robin spreads the creations over the three providers.
            for index in 0..<9 {
                let stream = index % 3 == 2
                let body = stream ? #"{"model":"gpt-5","stream":true,"input":"hi"}"# : #"{"model":"gpt-5","input":"hi"}"#
                let response = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: body, key: "sk-k")
                #expect(response.status == 200)
                let id = try #require(response.text.firstMatch(of: /resp_[a-c]_[0-9]+/).map { String($0.output) })
                created.append(id)
            }
            #expect(Set(created.map { $0.dropFirst(5).prefix(1) }).count == 3, "\(created)")
            // Each follow-up is one request, to the creator.
            for id in created {
                let before = requestCount()
                let response = try await TestClient.request(
                    port: gateway.port, path: "/v1/responses", body: #"{"model":"gpt-5","previous_response_id":"\#(id)","input":"more"}"#, key: "sk-k")
                #expect(response.status == 200, "\(id): \(response.text)")
                #expect(requestCount() == before + 1)
                let holder = id.dropFirst(5).prefix(1)
                #expect(upstreams.first { $0.0 == holder }!.1.requests.last?.bodyText.contains(id) == true)
            }
            // Stored-response calls: one request each, to the creator, with the client's query.
            let id = created[4]
            let holder = upstreams.first { $0.0 == id.dropFirst(5).prefix(1) }!.1
            var before = requestCount()
            let retrieved = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)", key: "sk-k")
            #expect(retrieved.status == 200 && retrieved.text.contains(id))
            let items = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)/input_items?limit=2&order=asc&key=sk-k", key: "sk-k")
            #expect(items.status == 200 && items.text.contains(#"?limit=2&order=asc""#), "the client's query, minus its key: \(items.text)")
            let cancelled = try await TestClient.request(port: gateway.port, method: .POST, path: "/v1/responses/\(id)/cancel", key: "sk-k")
            #expect(cancelled.status == 200 && cancelled.text.contains("cancelled"))
            #expect(requestCount() == before + 3)
            #expect(holder.requests.suffix(3).map(\.uri) == ["/v1/responses/\(id)", "/v1/responses/\(id)/input_items?limit=2&order=asc", "/v1/responses/\(id)/cancel"])
            #expect(holder.requests.last?.header("authorization")?.hasPrefix("Bearer sk-") == true)
            // Deleted: forgotten, so the next call asks every provider and gets the 404.
            let deleted = try await TestClient.request(port: gateway.port, method: .DELETE, path: "/v1/responses/\(id)", key: "sk-k")
            #expect(deleted.status == 200 && deleted.text.contains("response.deleted"))
            before = requestCount()
            let gone = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)", key: "sk-k")
            #expect(gone.status == 404 && gone.errorMessage == "Response not found.")
            #expect(requestCount() == before + 3, "a response nobody holds: each provider asked once")

            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            #expect(!metrics.text.contains("llm_proxy_upstream_retries_total{"), "no 404 counted as a retry")
            #expect(metrics.text.contains(#"endpoint="/v1/responses/{id}""#) && metrics.text.contains(#"endpoint="/v1/responses/{id}/input_items""#))
            #expect(!metrics.text.contains("resp_"), "no id in a label")
        }

        // A new gateway knows nothing: the follow-ups still reach the creators, by asking.
        try await withGateway(yaml: Self.yaml(upstreams, maxAttempts: 1)) { gateway in
            for id in created where id != created[4] {
                let response = try await TestClient.request(
                    port: gateway.port, path: "/v1/responses", body: #"{"model":"gpt-5","previous_response_id":"\#(id)","input":"again"}"#, key: "sk-k")
                #expect(response.status == 200, "\(id) after a restart, with max_attempts 1: \(response.text)")
            }
            // Found by asking, then remembered: the second retrieve is one request.
            let id = created[0]
            let first = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)", key: "sk-k")
            #expect(first.status == 200 && first.text.contains(id))
            let before = requestCount()
            let second = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)", key: "sk-k")
            #expect(second.status == 200 && requestCount() == before + 1)

            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
            #expect(!metrics.text.contains("llm_proxy_upstream_retries_total{"))
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: "sk-k")
            #expect(!health.text.contains("\"status\":\"down\"") && !health.text.contains("HTTP 404"), "a 404 is no failure: \(health.text)")
        }
        for upstream in upstreams { await upstream.1.stop() }
    }

    @Test func theMockServesStoredResponseCalls() async throws {
        try await withGateway(yaml: """
            providers:
              - {name: mock, type: mock}
            master_keys: [{name: k, key: sk-k}]
            health_check: {enabled: false}
            """) { gateway in
            let created = try await TestClient.request(port: gateway.port, path: "/v1/responses", body: #"{"model":"any","input":"x"}"#, key: "sk-k")
            let id = try #require(created.json()["id"] as? String)
            let paths: [(HTTPMethod, String, String)] = [
                (.GET, "/v1/responses/\(id)", "\"status\":\"completed\""),
                (.GET, "/v1/responses/\(id)/input_items", "\"object\":\"list\""),
                (.POST, "/v1/responses/\(id)/cancel", "\"status\":\"cancelled\""),
                (.DELETE, "/v1/responses/\(id)", "\"deleted\":true"),
            ]
            for (method, path, expected) in paths {
                let response = try await TestClient.request(port: gateway.port, method: method, path: path, key: "sk-k")
                #expect(response.status == 200 && response.text.contains(expected), "\(path): \(response.text)")
            }
            let unknown = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/resp_other", key: "sk-k")
            #expect(unknown.status == 404 && unknown.json()["error"] != nil)
            let noKey = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/responses/\(id)", key: nil)
            #expect(noKey.status == 401)
        }
    }
}
