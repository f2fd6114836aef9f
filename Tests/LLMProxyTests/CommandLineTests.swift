import Foundation
import LLMProxyTestSupport
import Testing

/// The built binary's subcommands, as README's "Command line" lists them.
/// Their names are written out in `CommandConfiguration` (ArgumentParser
/// would otherwise derive them by reflection at every start).
@Suite struct CommandLineTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = SpawnedGateway.binary
        process.arguments = arguments
        let finished = try FinishedProcess.run(process)
        return (finished.status, finished.text)
    }

    @Test func helpListsTheSubcommandsByName() throws {
        let help = try Self.run(["--help"])
        #expect(help.status == 0)
        for name in ["serve (default)", "check", "version"] {
            #expect(help.output.contains("  \(name)"), "\(name) missing from: \(help.output)")
        }
    }

    @Test func versionPrintsTheVersion() throws {
        let version = try Self.run(["version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("llm-proxy "), "\(version.output)")
    }

    @Test func checkAcceptsAValidConfigAndNamesTheLineOfABadOne() throws {
        let directory = try temporaryDirectory()
        let good = directory.appendingPathComponent("good.yaml")
        try "providers:\n  - {name: mock, type: mock, model_mapping: {demo: demo}}\n".write(to: good, atomically: true, encoding: .utf8)
        let accepted = try Self.run(["check", "--config", good.path])
        #expect(accepted.status == 0, "\(accepted.output)")

        let bad = directory.appendingPathComponent("bad.yaml")
        try "providers:\n  - {name: mock, type: mock, model_mapping: {demo: demo}}\nretry: {max_attempts: none}\n"
            .write(to: bad, atomically: true, encoding: .utf8)
        let refused = try Self.run(["check", "--config", bad.path])
        #expect(refused.status == 1)
        #expect(refused.output.contains("bad.yaml:3:"), "\(refused.output)")
        #expect(refused.output.contains("must be an integer, not 'none'"), "\(refused.output)")
    }

    @Test func serveRefusesAnUnknownOption() throws {
        let refused = try Self.run(["serve", "--no-such-option"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("--no-such-option"), "\(refused.output)")
    }
}
