import Foundation
import Glibc

/// The built `llm-proxy` binary, run as operators run it, for tests of
/// signals, file watching and shutdown.
package final class SpawnedGateway: @unchecked Sendable {
    package let process = Process()
    package let port: Int
    package let directory: URL
    package let logFile: URL

    package static var binary: URL {
        // The test bundle sits next to the products of the same build.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("llm-proxy")
    }

    /// Starts `llm-proxy serve --config <configPath>` and waits for /health.
    /// `softOpenFileLimit` starts it with that soft limit on open files (through the shell's `ulimit`).
    package init(configPath: String, directory: URL, environment: [String: String] = [:], softOpenFileLimit: Int? = nil) async throws {
        self.directory = directory
        port = try await unusedPort()
        logFile = directory.appendingPathComponent("gateway-\(port).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let arguments = ["serve", "--config", configPath, "--host", "127.0.0.1", "--port", String(port)]
        if let softOpenFileLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -Sn \(softOpenFileLimit) && exec \"$0\" \"$@\"", Self.binary.path] + arguments
        } else {
            process.executableURL = Self.binary
            process.arguments = arguments
        }
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "info"
        process.environment = env
        let handle = try FileHandle(forWritingTo: logFile)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let response = try? await TestClient.request(port: port, method: .GET, path: "/health", key: nil, timeout: .seconds(1)),
                response.status == 200
            {
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestClientError(description: "llm-proxy did not become healthy: \(log)")
    }

    package var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    package func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit and returns its status.
    package func waitForExit(seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    package func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

package func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("llm-proxy-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

package func writeFile(_ text: String, to url: URL) throws {
    try text.write(to: url, atomically: true, encoding: .utf8)
}
