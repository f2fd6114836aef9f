import Foundation
@testable import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// Traces: the sampling and config rules without sockets, then gateways that
/// export to an OTLP/HTTP receiver of the test's own, whose protobuf bodies
/// the `opentelemetry-proto` package decodes (`.ci/run` installs it in
/// `.venv-sdk`; without it those tests are skipped, which the run shows).
@Suite(.serialized) struct TracingTests {
    static let python = SDKEndToEndTests.python
    static let hasDecoder = FileManager.default.fileExists(atPath: python.path)

    // MARK: - Without sockets

    @Test func traceparentsDecideSamplingAndBadOnesAreIgnored() {
        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        #expect(TraceSampling.flags(ofTraceparent: Substring(sampled)) == 1)
        #expect(TraceSampling.flags(ofTraceparent: Substring(unsampled)) == 0)
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "garbage", "",
        ] {
            #expect(TraceSampling.flags(ofTraceparent: Substring(bad)) == nil, "\(bad)")
        }
        // A client's flag wins over the ratio; without one the ratio decides.
        #expect(TraceSampling(ratio: 0).isSampled(traceparent: Substring(sampled), draw: .max))
        #expect(!TraceSampling(ratio: 1).isSampled(traceparent: Substring(unsampled), draw: 0))
        #expect(!TraceSampling(ratio: 0).isSampled(traceparent: nil, draw: 0))
        #expect(TraceSampling(ratio: 1).isSampled(traceparent: nil, draw: .max))
        #expect(TraceSampling(ratio: 1).isSampled(traceparent: "garbage", draw: .max))
        let tenth = TraceSampling(ratio: 0.1)
        var generator = SystemRandomNumberGenerator()
        let hits = (0..<100_000).filter { _ in tenth.isSampled(traceparent: nil, draw: generator.next()) }.count
        #expect((9_000...11_000).contains(hits), "\(hits)")
    }

    @Test func tracingIsConfiguredByTheFileAndTheStandardVariables() throws {
        #expect(TracingConfig.resolve(nil, environment: [:]) == nil)
        let fromEnvironment = try #require(TracingConfig.resolve(nil, environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "gw", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
        ]))
        #expect(fromEnvironment.tracesURL == "http://collector:4318/v1/traces")
        #expect(fromEnvironment.serviceName == "gw")
        #expect(fromEnvironment.sampleRatio == 0.25)
        #expect(TracingConfig.resolve(nil, environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/v1/traces"])?.tracesURL == "https://c.example/v1/traces")
        #expect(TracingConfig.resolve(TracingConfig(), environment: ["OTEL_SDK_DISABLED": "true"]) == nil)
        let config = try ConfigLoader.load(text: """
            providers: [{name: m, type: mock}]
            tracing: {otlp_endpoint: "http://otel:4318", sample_ratio: 0.5, service_name: edge, headers: {x-honeycomb-team: "${TEAM}"}}
            """, file: "c.yaml", environment: ["TEAM": "hc-secret"])
        #expect(config.tracing?.tracesURL == "http://otel:4318/v1/traces")
        #expect(config.tracing?.sampleRatio == 0.5)
        #expect(config.tracing?.headers.first?.value == "hc-secret")
        func problems(_ tracing: String) -> String {
            configErrors("providers: [{name: m, type: mock}]\ntracing: \(tracing)\n")
        }
        #expect(problems("{sample_ratio: 1.5}").contains("c.yaml:2:25: error: tracing.sample_ratio must be between 0 and 1"))
        #expect(problems("{otlp_endpoint: \"grpc://x\"}").contains("c.yaml:2:26: error: tracing.otlp_endpoint 'grpc://x' is not an http(s) URL"))
        #expect(problems("{endpoint: x}").contains("unknown key 'endpoint' in tracing"))
        #expect(problems("{headers: {\"bad header\": v}}").contains("not a valid HTTP header name"))
    }

    @Test func theResponsesModelIsReadFromItsFirstPart() {
        #expect(ResponseModelScanner.model(in: Array(#"{"id":"c1","object":"chat.completion","model": "gpt-4o-2024-08-06","choices":[]}"#.utf8)) == "gpt-4o-2024-08-06")
        #expect(ResponseModelScanner.model(in: Array(#"data: {"id":"c","model":"m-1","choices":[{"delta":{"content":"\"model\":\"x\""}}]}"#.utf8)) == "m-1")
        #expect(ResponseModelScanner.model(in: Array(#"{"candidates":[],"modelVersion":"gemini-2.5-flash-001"}"#.utf8)) == "gemini-2.5-flash-001")
        #expect(ResponseModelScanner.model(in: Array(#"{"object":"list","data":[]}"#.utf8)) == nil)
        #expect(ResponseModelScanner.model(in: Array(#"{"model":{"nested":1}}"#.utf8)) == nil)
        // Keys that only begin like one, values that are no model name, and a part cut off mid-value.
        #expect(ResponseModelScanner.model(in: Array(#"{"modelX":"a","models":"b","model" : "c"}"#.utf8)) == "c")
        #expect(ResponseModelScanner.model(in: Array(#"{"model":"a\"b"}"#.utf8)) == nil)
        #expect(ResponseModelScanner.model(in: Array(#"{"model":""}"#.utf8)) == nil)
        #expect(ResponseModelScanner.model(in: Array(("{\"model\":\"" + String(repeating: "m", count: 199) + "\"}").utf8)) == String(repeating: "m", count: 199))
        #expect(ResponseModelScanner.model(in: Array(("{\"model\":\"" + String(repeating: "m", count: 200) + "\"}").utf8)) == nil)
        #expect(ResponseModelScanner.model(in: Array(#"{"model":"gpt-4"#.utf8)) == nil)
        // Not a contiguous collection: read from a copy of its first part.
        #expect(ResponseModelScanner.model(in: Array(#"{"model":"m-2"}"#.utf8).lazy.map { $0 }) == "m-2")
    }

    // MARK: - Exported spans

    /// An OTLP/HTTP receiver: each export body kept, answered as a collector does.
    static func collector() async throws -> MockUpstream {
        try await MockUpstream { _ in .respond(status: 200, headers: [("Content-Type", "application/x-protobuf")], body: "") }
    }

    /// The spans of every export `collector` received, decoded.
    static func spans(_ collector: MockUpstream) throws -> [[String: Any]] {
        let directory = try temporaryDirectory()
        var paths: [String] = []
        for (index, request) in collector.requests.enumerated() where request.uri == "/v1/traces" {
            let path = directory.appendingPathComponent("export-\(index).pb")
            try Data(request.body).write(to: path)
            paths.append(path.path)
        }
        guard !paths.isEmpty else { return [] }
        let process = Process()
        process.executableURL = python
        process.arguments = [SDKEndToEndTests.packageRoot.appendingPathComponent("Tests/tracing/decode_otlp.py").path] + paths
        let finished = try FinishedProcess.run(process, errors: .inherited)
        return try JSONSerialization.jsonObject(with: finished.output) as? [[String: Any]] ?? []
    }

    static func yaml(collector: String, ratio: Double = 1, upstreams: [(String, String)], extra: String = "") -> String {
        var yaml = """
            health_check: {enabled: false}
            retry: {max_attempts: 2}
            tracing: {otlp_endpoint: "\(collector)", sample_ratio: \(ratio), service_name: gw-test, headers: {x-collector-key: collector-secret}}
            providers:

            """
        // The first is picked first (smooth weighted round-robin, weight 2 against 1).
        for (index, (name, url)) in upstreams.enumerated() {
            yaml += "  - {name: \(name), type: openai, api_base: \"\(url)/v1\", api_key: sk-up-\(name), weight: \(index == 0 ? 2 : 1), model_mapping: {gpt-4o: gpt-4o-up}}\n"
        }
        yaml += "master_keys:\n  - {name: team, key: sk-test}\n" + extra
        return yaml
    }

    @Test(.enabled(if: hasDecoder, "needs .venv-sdk with opentelemetry-proto (created by .ci/run)"))
    func aRetriedRequestIsOneServerSpanWithTwoAttemptsUnderTheClientsTrace() async throws {
        let collector = try await Self.collector()
        let failing = try await MockUpstream { _ in .json(#"{"error":{"message":"overloaded"}}"#, status: 503) }
        let healthy = try await MockUpstream { _ in
            .json(#"{"id":"c1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#)
        }
        let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let clientSpan = "00f067aa0ba902b7"
        let capture = LogCapture()
        let harness = try await GatewayHarness.start(
            yaml: Self.yaml(collector: collector.baseURL, ratio: 0, upstreams: [("a", failing.baseURL), ("b", healthy.baseURL)]), logCapture: capture)
        // a first, b second: one retry.
        let response = try await TestClient.chat(port: harness.port, model: "gpt-4o", extraHeaders: [("traceparent", "00-\(clientTrace)-\(clientSpan)-01")])
        #expect(response.status == 200)
        await harness.stop()
        let spans = try Self.spans(collector)
        try #require(spans.count == 3, "\(spans)")
        let server = try #require(spans.first { $0["kind"] as? Int == 2 })
        let attempts = spans.filter { $0["kind"] as? Int == 3 }.sorted { ($0["start"] as? Int ?? 0) < ($1["start"] as? Int ?? 0) }
        #expect(attempts.count == 2)
        #expect(server["trace_id"] as? String == clientTrace)
        #expect(server["parent_span_id"] as? String == clientSpan)
        #expect(server["name"] as? String == "chat gpt-4o")
        #expect(server["service"] as? String == "gw-test")
        let serverAttributes = server["attributes"] as? [String: Any] ?? [:]
        #expect(serverAttributes["gen_ai.operation.name"] as? String == "chat")
        #expect(serverAttributes["gen_ai.provider.name"] as? String == "openai")
        #expect(serverAttributes["gen_ai.request.model"] as? String == "gpt-4o")
        #expect(serverAttributes["gen_ai.response.model"] as? String == "gpt-4o-2024-08-06")
        #expect(serverAttributes["gen_ai.usage.input_tokens"] as? Int == 7)
        #expect(serverAttributes["gen_ai.usage.output_tokens"] as? Int == 2)
        #expect(serverAttributes["http.response.status_code"] as? Int == 200)
        #expect(serverAttributes["llm_proxy.key.name"] as? String == "team")
        #expect(serverAttributes["llm_proxy.retries"] as? Int == 1)
        #expect(serverAttributes["llm_proxy.time_to_first_byte_seconds"] is Double)
        #expect(serverAttributes["error.type"] == nil)
        for attempt in attempts {
            #expect(attempt["trace_id"] as? String == clientTrace)
            #expect(attempt["parent_span_id"] as? String == server["span_id"] as? String)
            #expect(attempt["name"] as? String == "chat gpt-4o-up")
            let attributes = attempt["attributes"] as? [String: Any] ?? [:]
            #expect(attributes["gen_ai.request.model"] as? String == "gpt-4o-up")
            #expect(attributes["server.address"] as? String == "127.0.0.1")
        }
        let first = attempts[0]["attributes"] as? [String: Any] ?? [:]
        let second = attempts[1]["attributes"] as? [String: Any] ?? [:]
        #expect(first["llm_proxy.provider"] as? String == "a")
        #expect(first["http.response.status_code"] as? Int == 503)
        #expect(first["error.type"] as? String == "503")
        #expect(attempts[0]["status"] as? Int == 2)
        #expect(second["llm_proxy.provider"] as? String == "b")
        #expect(second["http.response.status_code"] as? Int == 200)
        #expect(second["gen_ai.response.model"] as? String == "gpt-4o-2024-08-06")
        #expect(attempts[1]["status"] as? Int != 2)
        // Each provider got its own attempt's span as the parent to continue.
        #expect(failing.requests.first?.header("traceparent") == "00-\(clientTrace)-\(attempts[0]["span_id"] as? String ?? "")-01")
        #expect(healthy.requests.first?.header("traceparent") == "00-\(clientTrace)-\(attempts[1]["span_id"] as? String ?? "")-01")
        // The access line names the trace; the collector got its headers; nothing secret or said went along.
        #expect(capture.entries.contains { $0.message == "request" && $0.metadata["trace_id"] == clientTrace })
        #expect(collector.requests.allSatisfy { $0.header("x-collector-key") == "collector-secret" })
        let exported = collector.requests.map(\.bodyText).joined()
        for secret in ["sk-test", "sk-up-a", "sk-up-b", "hello", "\"hi\""] { #expect(!exported.contains(secret), "\(secret)") }
        await collector.stop()
        await failing.stop()
        await healthy.stop()
    }

    @Test(.enabled(if: hasDecoder, "needs .venv-sdk with opentelemetry-proto (created by .ci/run)"))
    func samplingAtZeroExportsNothingAndAnUnsampledClientStaysUnsampled() async throws {
        let collector = try await Self.collector()
        let upstream = try await MockUpstream()
        let harness = try await GatewayHarness.start(yaml: Self.yaml(collector: collector.baseURL, ratio: 0, upstreams: [("a", upstream.baseURL)]))
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        for index in 0..<20 {
            let headers = index % 2 == 0 ? [("traceparent", unsampled)] : []
            #expect(try await TestClient.chat(port: harness.port, model: "gpt-4o", extraHeaders: headers).status == 200)
        }
        await harness.stop()
        #expect(try Self.spans(collector).isEmpty)
        #expect(collector.requests.isEmpty)
        // Not traced: the client's own context goes on untouched, none is made up.
        #expect(upstream.requests.filter { $0.header("traceparent") == unsampled }.count == 10)
        #expect(upstream.requests.filter { $0.header("traceparent") == nil }.count == 10)
        await collector.stop()
        await upstream.stop()
    }

    @Test(.enabled(if: hasDecoder, "needs .venv-sdk with opentelemetry-proto (created by .ci/run)"))
    func everyRequestIsTracedAtRatioOneWithItsOwnTrace() async throws {
        let collector = try await Self.collector()
        let upstream = try await MockUpstream()
        let capture = LogCapture()
        let harness = try await GatewayHarness.start(yaml: Self.yaml(collector: collector.baseURL, upstreams: [("a", upstream.baseURL)]), logCapture: capture)
        for _ in 0..<10 { #expect(try await TestClient.chat(port: harness.port, model: "gpt-4o").status == 200) }
        #expect(try await TestClient.chat(port: harness.port, model: "no-such-model").status == 404)
        await harness.stop()
        let spans = try Self.spans(collector)
        let servers = spans.filter { $0["kind"] as? Int == 2 }
        #expect(servers.count == 11)
        #expect(Set(servers.compactMap { $0["trace_id"] as? String }).count == 11)
        #expect(servers.allSatisfy { ($0["parent_span_id"] as? String ?? "").isEmpty })
        // A refused request has its server span (and no attempt), marked as the error it was.
        let refused = try #require(servers.first { ($0["attributes"] as? [String: Any])?["http.response.status_code"] as? Int == 404 })
        #expect((refused["attributes"] as? [String: Any])?["error.type"] as? String == "404")
        #expect(spans.filter { $0["kind"] as? Int == 3 }.count == 10)
        let traceIDs = Set(servers.compactMap { $0["trace_id"] as? String })
        #expect(upstream.requests.allSatisfy { request in traceIDs.contains(String(request.header("traceparent")?.dropFirst(3).prefix(32) ?? "")) })
        // Each access line names its own request's trace: read from the attempt's
        // `traceparent`, or from the server span when no attempt was made (the 404).
        let logged = capture.entries.filter { $0.message == "request" }.compactMap { $0.metadata["trace_id"] }
        #expect(logged.count == 11)
        #expect(Set(logged) == traceIDs)
        await collector.stop()
        await upstream.stop()
    }

    @Test func aCollectorThatIsDownOrSlowCostsClientsNothingAndDropsAreCounted() async throws {
        let upstream = try await MockUpstream()
        let closed = try ClosedPort()
        defer { closed.close() }
        let down = closed.port
        let hanging = try await MockUpstream { _ in .hang }
        for endpoint in ["http://127.0.0.1:\(down)", hanging.baseURL] {
            let harness = try await GatewayHarness.start(yaml: Self.yaml(collector: endpoint, upstreams: [("a", upstream.baseURL)]))
            var slowest = 0.0
            let until = Date().addingTimeInterval(3)
            var count = 0
            while Date() < until {
                let before = Date()
                #expect(try await TestClient.chat(port: harness.port, model: "gpt-4o").status == 200)
                slowest = max(slowest, Date().timeIntervalSince(before))
                count += 1
            }
            // Well under the exporter's 5 s timeouts, which a request waiting on it would show (the bound allows a loaded machine).
            #expect(slowest < 2, "the slowest request took \(slowest) s with the collector at \(endpoint)")
            #expect(count >= 10)
            if endpoint.contains("\(down)") {
                // Each failed export's spans are counted as dropped.
                try await waitUntil(seconds: 15) { Self.dropped(harness) > 0 }
                #expect(Self.dropped(harness) > 0, "nothing counted in llm_proxy_dropped_spans_total")
            }
            let stopping = Date()
            await harness.stop()
            // Shutdown waits for the exporter at most its bound.
            #expect(Date().timeIntervalSince(stopping) < 8)
        }
        await hanging.stop()
        await upstream.stop()
    }

    static func dropped(_ harness: GatewayHarness) -> Double {
        harness.gateway.state.metricsText().split(separator: "\n").first { $0.hasPrefix("llm_proxy_dropped_spans_total ") }
            .flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }
}
