import Foundation
import LLMProxyServer
import LLMProxyTestSupport
import Testing

/// `StartupPages`: the executable's read-only pages leave the resident set,
/// and the process (a gateway in it included) goes on working.
@Suite struct StartupPagesTests {
    static func residentKB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
    }

    @Test func theExecutablesStartupPagesLeaveTheResidentSet() async throws {
        let before = Self.residentKB()
        let advised = StartupPages.release()
        let after = Self.residentKB()
        #expect(advised > 0)
        #expect(after < before, "VmRSS \(before) KB -> \(after) KB")
        try await withGateway(yaml: "providers: [{name: mock, type: mock, model_mapping: {demo: demo}}]\nmaster_keys: [{name: t, key: sk-test}]\n") { gateway in
            let status = try await TestClient.chat(port: gateway.port).status
            #expect(status == 200)
        }
    }
}
