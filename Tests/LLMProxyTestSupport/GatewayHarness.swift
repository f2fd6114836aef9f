import Foundation
import LLMProxyCore
import LLMProxyServer
import Logging
import NIOCore

/// A gateway started in-process on an ephemeral port.
package struct GatewayHarness {
    package let gateway: Gateway
    package var port: Int { gateway.port }

    package static func start(yaml: String, environment: [String: String] = [:], logCapture: LogCapture? = nil) async throws -> GatewayHarness {
        let config = try ConfigLoader.load(text: yaml, file: "test.yaml", environment: environment)
        var adjusted = config
        adjusted.server.host = "127.0.0.1"
        adjusted.server.port = 0
        if adjusted.server.eventLoops == 0 { adjusted.server.eventLoops = 2 }
        var logger = logCapture?.logger ?? Logger(label: "test-gateway")
        if logCapture == nil { logger.logLevel = .critical }
        // The access log's JSON lines join the captured log entries.
        let sink: any AccessLogSink = logCapture.map { AccessLogCapture(capture: $0) } ?? StandardErrorSink()
        let gateway = try Gateway(
            config: RuntimeConfig(config: adjusted, version: 1, sourcePath: "test.yaml"), logger: logger, accessLogSink: sink,
            accessLogFormat: logCapture == nil ? nil : .json)
        try await gateway.start()
        return GatewayHarness(gateway: gateway)
    }

    package func stop() async {
        await gateway.shutdown()
    }
}

/// A config with one openai provider per upstream and the test key.
package func providersYAML(_ upstreams: [(name: String, url: String, weight: Int)], mapping: String? = nil, extra: String = "") -> String {
    var yaml = "providers:\n"
    for upstream in upstreams {
        yaml += """
          - name: \(upstream.name)
            type: openai
            api_base: \(upstream.url)/v1
            api_key: sk-upstream-\(upstream.name)
            weight: \(upstream.weight)

        """
        if let mapping { yaml += "    model_mapping:\n" + mapping }
    }
    yaml += """
    master_keys:
      - name: Test Key
        key: sk-test

    """
    // Probes would add requests the tests count; the health tests turn them on.
    if !extra.contains("health_check") { yaml += "health_check: {enabled: false}\n" }
    return yaml + extra
}

/// Runs `body` against a gateway started in-process on `yaml` and stops the
/// gateway however `body` ends, a failed `#require` or a thrown error
/// included, so no test leaks a server into the next.
///
///     try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
///         #expect(try await TestClient.chat(port: gateway.port).status == 200)
///     }
@discardableResult
package func withGateway<Result>(
    yaml: String, environment: [String: String] = [:], logCapture: LogCapture? = nil,
    _ body: (GatewayHarness) async throws -> Result
) async throws -> Result {
    let gateway = try await GatewayHarness.start(yaml: yaml, environment: environment, logCapture: logCapture)
    do {
        let result = try await body(gateway)
        await gateway.stop()
        return result
    } catch {
        await gateway.stop()
        throw error
    }
}

/// An access-log sink that parses each JSON line into a `LogCapture` entry
/// (message `request`, the line's fields as metadata), or records a line
/// that does not parse as an entry whose message says so.
package struct AccessLogCapture: AccessLogSink {
    package let capture: LogCapture

    package init(capture: LogCapture) { self.capture = capture }

    package func write(_ bytes: ByteBuffer) {
        let text = String(buffer: bytes)
        for line in text.split(separator: "\n") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                capture.append(.init(level: .error, message: "unparsable access log line: \(line)", metadata: [:]))
                continue
            }
            var metadata: [String: String] = [:]
            for (key, value) in object where !["ts", "level", "logger", "msg"].contains(key) { metadata[key] = "\(value)" }
            capture.append(.init(level: .info, message: object["msg"] as? String ?? "", metadata: metadata))
        }
    }
}
