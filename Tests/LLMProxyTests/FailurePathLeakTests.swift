import Foundation
import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import NIOPosix
import Testing

/// Every way a request can fail, thousands of times, and afterwards nothing
/// of it may still be alive: no client handler, no exchange, no upstream
/// connection object without an open socket behind it, no probe connection.
/// The counts come from `LiveObjectCounts`; a retain cycle (an upstream
/// connection that kept its pipeline after a failed connect, ~1.6 KB per
/// request) shows up here as a count that does not go back down.
@Suite(.serialized) struct FailurePathLeakTests {
    @Test func refusedConnectsLeaveNothingBehind() async throws {
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        try await withLeakCheck(yaml: providersYAML([("dead", "http://127.0.0.1:\(closedPort)", 1)])) { gateway in
            try await Self.run(2000, concurrency: 16) { _ in
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 502 && response.errorCode == "upstream_unavailable")
            }
        }
    }

    @Test func connectTimeoutsLeaveNothingBehind() async throws {
        let listener = try await NonAcceptingListener()
        let yaml = providersYAML(
            [("stalled", "http://127.0.0.1:\(listener.port)", 1)],
            extra: "server: {connect_timeout_seconds: 0.05, request_timeout_seconds: 0.3}\n")
        try await withLeakCheck(yaml: yaml) { gateway in
            try await Self.run(200, concurrency: 20) { _ in
                let response = try await TestClient.chat(port: gateway.port)
                // The few connects the kernel completes into the full accept
                // queue wait for an answer (504); the rest time out connecting (502).
                #expect(response.status == 502 || response.status == 504, "got \(response.status)")
            }
        }
        await listener.stop()
    }

    @Test func failedTLSHandshakesLeaveNothingBehind() async throws {
        let upstream = try await MockUpstream(tls: try TLSUpstreamTests.selfSignedContext())
        // verify_ssl: true (the default) refuses the self-signed certificate.
        try await withLeakCheck(yaml: providersYAML([("tls", upstream.baseURL, 1)]), upstreams: [upstream]) { gateway in
            try await Self.run(500, concurrency: 8) { _ in
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 502 && response.errorCode == "upstream_unavailable")
            }
        }
        #expect(upstream.requests.isEmpty)
        await upstream.stop()
    }

    @Test func providersThatCutTheirAnswerLeaveNothingBehind() async throws {
        let cuts: [(String, UpstreamBehavior)] = [
            ("mid-head", .rawThenClose("HTTP/1.1 200 OK\r\nContent-Ty", reset: false)),
            ("mid-head with RST", .rawThenClose("HTTP/1.1 200 OK\r\nContent-Ty", reset: true)),
            ("mid-body", .rawThenClose("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":", reset: false)),
            ("mid-body with RST", .rawThenClose("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":", reset: true)),
            ("mid-stream", .rawThenClose("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n", reset: true)),
            ("after the head", .headThenClose(status: 200)),
        ]
        for (name, behavior) in cuts {
            let upstream = try await MockUpstream { _ in behavior }
            try await withLeakCheck(yaml: providersYAML([("cutting", upstream.baseURL, 1)]), upstreams: [upstream], name) { gateway in
                try await Self.run(500, concurrency: 16) { _ in
                    // The gateway closes (or ends with an interruption event) a
                    // cut answer; either way the client sees an end.
                    _ = try? await TestClient.chat(port: gateway.port)
                }
            }
            await upstream.stop()
        }
    }

    @Test func retried5xxAnswersLeaveNothingBehind() async throws {
        let a = try await MockUpstream { _ in .json(#"{"error":{"message":"overloaded"}}"#, status: 503) }
        let b = try await MockUpstream { _ in .respond(status: 500, headers: [("Connection", "close")], body: "{}") }
        try await withLeakCheck(yaml: providersYAML([("a", a.baseURL, 1), ("b", b.baseURL, 1)]), upstreams: [a, b]) { gateway in
            try await Self.run(1000, concurrency: 16) { _ in
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 503 || response.status == 500)
            }
        }
        await a.stop()
        await b.stop()
    }

    @Test func requestTimeoutsLeaveNothingBehind() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("\"stream\":true")
                ? .stream(chunks: (0..<50).map { "data: \($0)\n\n" }, interval: .milliseconds(40), cut: false) : .hang
        }
        let yaml = providersYAML([("slow", upstream.baseURL, 1)], extra: "server: {request_timeout_seconds: 0.15}\n")
        try await withLeakCheck(yaml: yaml, upstreams: [upstream]) { gateway in
            try await Self.run(300, concurrency: 50) { index in
                let response = try await TestClient.chat(port: gateway.port, stream: index % 2 == 0)
                if index % 2 == 0 {
                    #expect(response.text.contains("upstream_stream_interrupted"))
                } else {
                    #expect(response.status == 504)
                }
            }
        }
        await upstream.stop()
    }

    @Test func clientsThatLeaveAtEveryStageLeaveNothingBehind() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("hang") ? .hang
                : .stream(chunks: (0..<100).map { "data: {\"i\":\($0)}\n\n" }, interval: .milliseconds(10), cut: false)
        }
        let listener = try await NonAcceptingListener()
        let yaml = providersYAML([("a", upstream.baseURL, 1)], mapping: "      hang: hang\n      stream: stream\n")
            .replacingOccurrences(of: "master_keys:", with: """
                  - name: stalled
                    type: openai
                    api_base: http://127.0.0.1:\(listener.port)/v1
                    api_key: sk-x
                    model_mapping: {connecting: connecting}
                master_keys:
                """)
        try await withLeakCheck(yaml: yaml, upstreams: [upstream]) { gateway in
            // While its head is read, while its body is read, while the gateway
            // connects, while it waits for the provider's head, mid-stream.
            let stages: [(bytes: String, wait: Duration)] = [
                ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthor", .milliseconds(5)),
                ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 100\r\n\r\n{\"model\":", .milliseconds(5)),
                (Self.request(model: "connecting"), .milliseconds(20)),
                (Self.request(model: "hang"), .milliseconds(20)),
                (Self.request(model: "stream"), .milliseconds(30)),
            ]
            try await Self.run(stages.count * 60, concurrency: 20) { index in
                let stage = stages[index % stages.count]
                let channel = try await TestClient.openStalled(port: gateway.port, bytes: Array(stage.bytes.utf8))
                try await Task.sleep(for: stage.wait)
                try await channel.close()
            }
        }
        await upstream.stop()
        await listener.stop()
    }

    @Test func probesOfADeadProviderLeaveNothingBehind() async throws {
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        let yaml = providersYAML(
            [("dead", "http://127.0.0.1:\(closedPort)", 1)],
            extra: "health_check: {enabled: true, interval_seconds: 0.01, timeout_seconds: 0.5}\n")
        try await withGateway(yaml: yaml) { gateway in
            // ~100 probes a second, each refused.
            try await Task.sleep(for: .seconds(2))
            let live = gateway.gateway.state.liveObjects
            // Probes are always starting; between two, none may be left.
            var lowest = live.snapshot.probeConnections
            let deadline = Date().addingTimeInterval(3)
            while lowest > 0 && Date() < deadline {
                lowest = min(lowest, live.snapshot.probeConnections)
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(lowest == 0, "probe connections still alive: \(live.snapshot)")
        }
    }

    @Test func reloadsWhileRequestsFailLeaveNothingBehind() async throws {
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        let upstream = try await MockUpstream { _ in .json("{}", status: 503) }
        let yaml = providersYAML([("dead", "http://127.0.0.1:\(closedPort)", 1), ("failing", upstream.baseURL, 1)])
        try await withLeakCheck(yaml: yaml, upstreams: [upstream]) { gateway in
            let config = try ConfigLoader.load(text: yaml, file: "test.yaml", environment: [:])
            let reloads = Task {
                for version in 2..<200 {
                    gateway.gateway.install(RuntimeConfig(config: config, version: version, sourcePath: "test.yaml"))
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            try await Self.run(1000, concurrency: 16) { _ in
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 502 || response.status == 503)
            }
            await reloads.value
        }
        await upstream.stop()
    }

    // MARK: - Helpers

    static func request(model: String) -> String {
        let body = #"{"model":"\#(model)","stream":true}"#
        return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// `count` calls of `body`, `concurrency` at a time.
    static func run(_ count: Int, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(concurrency, count) {
                let index = next
                group.addTask { try await body(index) }
                next += 1
            }
            while try await group.next() != nil {
                guard next < count else { continue }
                let index = next
                group.addTask { try await body(index) }
                next += 1
            }
        }
    }
}

/// Runs `body` against a gateway, then waits for every request-path object
/// to be gone: no client handler or exchange, and no upstream connection
/// object beyond the sockets the `upstreams` still see open (the pool's idle
/// keep-alive connections).
func withLeakCheck(
    yaml: String, upstreams: [MockUpstream] = [], _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (GatewayHarness) async throws -> Void
) async throws {
    try await withGateway(yaml: yaml) { gateway in
        try await body(gateway)
        let live = gateway.gateway.state.liveObjects
        func settled() -> Bool {
            let now = live.snapshot
            let open = upstreams.reduce(0) { $0 + $1.connectionsOpen }
            return now.clientConnections == 0 && now.exchanges == 0 && now.upstreamConnections == open && now.probeConnections == 0
        }
        try await waitUntil(seconds: 5, settled)
        let open = upstreams.reduce(0) { $0 + $1.connectionsOpen }
        #expect(settled(), "\(label) left behind: \(live.snapshot) (upstream sockets open: \(open))", sourceLocation: sourceLocation)
    }
}

/// A listening socket that never accepts: once its small queue is full, the
/// kernel ignores further SYNs and a connect hangs until it times out.
final class NonAcceptingListener: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init() async throws {
        channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1)
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async {
        try? await channel.close().get()
        try? await group.shutdownGracefully()
    }
}
