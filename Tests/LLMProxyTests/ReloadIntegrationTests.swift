import Foundation
import Glibc
import LLMProxyTestSupport
import Testing

/// Reload and shutdown through the real binary, real signals and real files.
@Suite(.serialized) struct ReloadIntegrationTests {
    static func config(key: String, upstream: String? = nil, weightA: Int = 1, watch: Bool = false, extra: String = "") -> String {
        var yaml = """
            watch_config: \(watch)
            health_check: {enabled: false}
            server: {drain_timeout_seconds: 10}
            providers:
              - name: mock
                type: mock
                weight: \(weightA)
                model_mapping: {demo: demo}

            """
        if let upstream {
            yaml += """
                  - name: upstream
                    api_base: \(upstream)/v1
                    api_key: sk-up
                    model_mapping: {streamy: streamy}

                """
        }
        yaml += "master_keys:\n  - {name: k, key: \(key)}\n" + extra
        return yaml
    }

    /// The built binary on `config(key: "sk-one")` with the model `streamy`
    /// served by an upstream that streams `chunks` `interval` apart.
    static func spawnWithStreamingUpstream(chunks: [String], interval: Duration) async throws -> (MockUpstream, SpawnedGateway, URL) {
        let upstream = try await MockUpstream { _ in .stream(chunks: chunks, interval: interval, cut: false) }
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile(config(key: "sk-one", upstream: upstream.baseURL), to: path)
        return (upstream, try await SpawnedGateway(configPath: path.path, directory: directory), path)
    }

    @Test func sighupSwapsKeysWithinASecondAndInvalidFilesAreRejected() async throws {
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile(Self.config(key: "sk-one"), to: path)
        let gateway = try await SpawnedGateway(configPath: path.path, directory: directory)
        defer { gateway.stop() }
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-one").status == 200)

        try writeFile(Self.config(key: "sk-two"), to: path)
        gateway.signal(SIGHUP)
        try await waitUntil(seconds: 1) { false }  // let the signal land
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-two").status == 200)
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-one").status == 401)

        // Invalid: the old config keeps serving and the error names line and column.
        try writeFile(Self.config(key: "sk-three") + "unknown_setting: 1\n", to: path)
        gateway.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-two").status == 200)
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-three").status == 401)
        #expect(gateway.log.contains("config.yaml:11:1: error: unknown key 'unknown_setting'"))
        let detailed = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: "sk-two")
        let config = detailed.json()["config"] as? [String: Any]
        #expect(config?["reloads_failed"] as? Int == 1 && config?["reloads_succeeded"] as? Int == 1 && config?["version"] as? Int == 2)
        let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil).text
        #expect(metrics.contains(#"llm_proxy_config_reloads_total{result="failure"} 1"#))
        #expect(metrics.contains(#"llm_proxy_config_reloads_total{result="success"} 1"#))
        // A missing variable is rejected too.
        try writeFile(Self.config(key: "${NOT_SET_ANYWHERE}"), to: path)
        gateway.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-two").status == 200)
        #expect(gateway.log.contains("NOT_SET_ANYWHERE"))
    }

    @Test func streamStartedBeforeReloadFinishesByteIdentical() async throws {
        let chunks = (0..<15).map { "data: {\"i\":\($0)}\n\n" } + ["data: [DONE]\n\n"]
        let (upstream, gateway, path) = try await Self.spawnWithStreamingUpstream(chunks: chunks, interval: .milliseconds(60))
        defer { gateway.stop() }
        async let stream = TestClient.chat(port: gateway.port, model: "streamy", stream: true, key: "sk-one")
        try await Task.sleep(for: .milliseconds(200))
        // The new config drops the provider and the key the stream uses.
        try writeFile(Self.config(key: "sk-two"), to: path)
        gateway.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await TestClient.chat(port: gateway.port, model: "streamy", key: "sk-two").status == 404)
        let response = try await stream
        #expect(response.status == 200)
        #expect(response.text == chunks.joined())
        await upstream.stop()
    }

    @Test func configMapSymlinkSwapReloadsWithoutSignal() async throws {
        let directory = try temporaryDirectory()
        let fileManager = FileManager.default
        // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>
        let first = directory.appendingPathComponent("..2026_11_22_10_00_00.1")
        try fileManager.createDirectory(at: first, withIntermediateDirectories: true)
        try writeFile(Self.config(key: "sk-one", watch: true), to: first.appendingPathComponent("config.yaml"))
        try fileManager.createSymbolicLink(atPath: directory.appendingPathComponent("..data").path, withDestinationPath: first.lastPathComponent)
        try fileManager.createSymbolicLink(atPath: directory.appendingPathComponent("config.yaml").path, withDestinationPath: "..data/config.yaml")
        let gateway = try await SpawnedGateway(configPath: directory.appendingPathComponent("config.yaml").path, directory: directory)
        defer { gateway.stop() }
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-one").status == 200)

        let second = directory.appendingPathComponent("..2026_11_22_10_05_00.2")
        try fileManager.createDirectory(at: second, withIntermediateDirectories: true)
        try writeFile(Self.config(key: "sk-two", watch: true), to: second.appendingPathComponent("config.yaml"))
        // Atomic swap, as the kubelet does it: a new link renamed over ..data.
        try fileManager.createSymbolicLink(atPath: directory.appendingPathComponent("..data_tmp").path, withDestinationPath: second.lastPathComponent)
        #expect(rename(directory.appendingPathComponent("..data_tmp").path, directory.appendingPathComponent("..data").path) == 0)
        var status = 0
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            status = try await TestClient.chat(port: gateway.port, key: "sk-two").status
            if status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == 200)
        #expect(try await TestClient.chat(port: gateway.port, key: "sk-one").status == 401)
    }

    @Test func sigtermLetsARunningStreamFinishThenExitsZero() async throws {
        let chunks = (0..<10).map { "data: {\"i\":\($0)}\n\n" } + ["data: [DONE]\n\n"]
        let (upstream, gateway, _) = try await Self.spawnWithStreamingUpstream(chunks: chunks, interval: .milliseconds(80))
        defer { gateway.stop() }
        async let stream = TestClient.chat(port: gateway.port, model: "streamy", stream: true, key: "sk-one")
        // The stream is under way (the provider has its request) before the signal, however loaded the machine.
        try await waitUntil(seconds: 5) { !upstream.requests.isEmpty }
        try await Task.sleep(for: .milliseconds(100))
        gateway.signal(SIGTERM)
        let response = try await stream
        #expect(response.text == chunks.joined())
        let status = try await gateway.waitForExit(seconds: 5)
        #expect(status == 0)
        // No new connections once draining began.
        await #expect(throws: (any Error).self) { try await TestClient.chat(port: gateway.port, key: "sk-one") }
        await upstream.stop()
    }

    @Test func reloadStormDropsNoRequest() async throws {
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile(Self.config(key: "sk-one", extra: "  - {name: k2, key: sk-stable}\n"), to: path)
        let gateway = try await SpawnedGateway(configPath: path.path, directory: directory, environment: ["LOG_LEVEL": "error"])
        defer { gateway.stop() }
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var failed = 0
                    for _ in 0..<60 {
                        let stream = worker % 2 == 0
                        let response = try? await TestClient.chat(port: gateway.port, stream: stream, key: "sk-stable")
                        if response?.status != 200 || (stream && !(response?.text.hasSuffix("data: [DONE]\n\n") ?? false)) { failed += 1 }
                    }
                    return failed
                }
            }
            group.addTask {
                for index in 0..<100 {
                    try writeFile(Self.config(key: "sk-\(index)", weightA: 1 + index % 3, extra: "  - {name: k2, key: sk-stable}\n"), to: path)
                    gateway.signal(SIGHUP)
                    try await Task.sleep(for: .milliseconds(15))
                }
                return 0
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
        #expect(gateway.process.isRunning)
    }
}
