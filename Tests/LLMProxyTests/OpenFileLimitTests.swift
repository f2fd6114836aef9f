import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct OpenFileLimitTests {
    /// (soft, hard) of "Max open files" in /proc/PID/limits.
    private func openFileLimits(pid: Int32) throws -> (String, String) {
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        return (String(fields[0]), String(fields[1]))
    }

    @Test func theGatewayRaisesItsSoftLimitToTheHardLimit() async throws {
        let (_, hard) = try openFileLimits(pid: getpid())
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile("providers:\n  - {name: mock, type: mock}\nhealth_check: {enabled: false}\nwatch_config: false\n", to: path)
        let gateway = try await SpawnedGateway(configPath: path.path, directory: directory, softOpenFileLimit: 256)
        defer { gateway.stop() }
        let (soft, childHard) = try openFileLimits(pid: gateway.process.processIdentifier)
        #expect(childHard == hard)
        #expect(soft == hard, "soft limit \(soft), hard \(hard)")
        #expect(gateway.log.contains("open_file_limit=\(hard == "unlimited" ? String(Int.max) : hard)"))
    }
}
