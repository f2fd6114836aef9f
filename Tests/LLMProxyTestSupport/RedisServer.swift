import Foundation
import Glibc

/// A real `redis-server` (the Debian package, which `.ci/run` installs) on a
/// free port of 127.0.0.1, with no persistence, for the shared-state tests.
/// `redis-cli` drives it (DEBUG SLEEP, inspection).
package final class RedisServer: @unchecked Sendable {
    package let port: Int
    package let password: String?
    /// `--tls-port` with a self-signed certificate for 127.0.0.1 (rediss://).
    package let tls: Bool
    private var certificate: String { directory.appendingPathComponent("cert.pem").path }
    private var process: Process?
    private let directory: URL

    package static var isAvailable: Bool { executable("redis-server") != nil && executable("redis-cli") != nil }

    package static func executable(_ name: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return nil
    }

    package init(password: String? = nil, port: Int? = nil, tls: Bool = false) async throws {
        self.password = password
        self.tls = tls
        if let port { self.port = port } else { self.port = try await unusedPort() }
        directory = try temporaryDirectory()
        if tls {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory.appendingPathComponent("key.pem").path,
                                 "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
        }
        try await start()
    }

    package var url: String {
        let scheme = tls ? "rediss" : "redis"
        return password.map { "\(scheme)://:\($0)@127.0.0.1:\(port)" } ?? "\(scheme)://127.0.0.1:\(port)"
    }

    /// Starts (again) on the same port.
    package func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable("redis-server")!)
        var arguments = tls
            ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", certificate, "--tls-key-file", directory.appendingPathComponent("key.pem").path,
               "--tls-ca-cert-file", certificate, "--tls-auth-clients", "no"]
            : ["--port", String(port)]
        arguments += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", directory.path, "--enable-debug-command", "yes", "--protected-mode", "no"]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? cli("PING").trimmingCharacters(in: .whitespacesAndNewlines)) == "PONG" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestClientError(description: "redis-server did not start on port \(port)")
    }

    /// SIGKILL, as a crashed or evicted store.
    package func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    package func stop() { kill() }

    /// One `redis-cli` command; its output.
    @discardableResult
    package func cli(_ arguments: String...) throws -> String {
        try FinishedProcess.run(cliProcess(arguments), errors: .discarded).text
    }

    /// `DEBUG SLEEP seconds`, sent without waiting for it (the server answers nothing meanwhile).
    package func pause(seconds: Double) throws {
        let process = cliProcess(["DEBUG", "SLEEP", String(seconds)])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// `redis-cli` pointed at this server (its TLS and password), not started.
    private func cliProcess(_ arguments: [String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable("redis-cli")!)
        var all = ["-h", "127.0.0.1", "-p", String(port)]
        if tls { all += ["--tls", "--cacert", certificate] }
        if let password { all += ["-a", password, "--no-auth-warning"] }
        process.arguments = all + arguments
        return process
    }

    deinit { kill() }
}
