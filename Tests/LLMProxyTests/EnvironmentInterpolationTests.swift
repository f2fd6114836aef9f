@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct EnvironmentInterpolationTests {
    @Test func substitutesVariablesDefaultsAndDollars() throws {
        let text = "a: ${A}\nb: ${B:-fallback}\nc: $$HOME\nd: ${A:-unused}\ne: price $5"
        let result = try EnvironmentInterpolation.interpolate(text, environment: ["A": "alpha"], file: "f")
        #expect(result == "a: alpha\nb: fallback\nc: $HOME\nd: alpha\ne: price $5")
    }

    @Test func emptyDefaultIsAllowed() throws {
        #expect(try EnvironmentInterpolation.interpolate("k: '${X:-}'", environment: [:], file: "f") == "k: ''")
    }

    @Test func unsetVariableIsAnErrorNamingItAndItsLine() {
        do {
            _ = try EnvironmentInterpolation.interpolate("a: 1\nkey: ${MISSING_KEY}\nother: ${ALSO_MISSING}", environment: [:], file: "c.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.diagnostics.count == 2)
            #expect(error.diagnostics[0].line == 2)
            #expect(error.diagnostics[0].column == 6)
            #expect(error.diagnostics[0].message.contains("MISSING_KEY"))
            #expect(error.diagnostics[1].line == 3)
            #expect(error.description.contains("c.yaml:2:6"))
        }
    }

    @Test func commentsAreNotInterpolated() throws {
        let text = "# api_key: ${NOT_SET}\nkey: value # ${ALSO_NOT_SET}\nquoted: \"a # ${Q}\""
        let result = try EnvironmentInterpolation.interpolate(text, environment: ["Q": "q"], file: "f")
        #expect(result == "# api_key: ${NOT_SET}\nkey: value # ${ALSO_NOT_SET}\nquoted: \"a # q\"")
    }

    /// A config saved with CRLF line ends: each line is its own (a comment
    /// on one does not hide the next), and errors name the right line.
    @Test func crlfLinesAreLinesToo() throws {
        let text = "# key: ${NOT_SET}\r\nkey: ${A}\r\nother: x\r\n"
        #expect(try EnvironmentInterpolation.interpolate(text, environment: ["A": "alpha"], file: "f") == "# key: ${NOT_SET}\r\nkey: alpha\r\nother: x\r\n")
        do {
            _ = try EnvironmentInterpolation.interpolate("a: 1\r\nb: 2\r\nkey: ${MISSING}\r\n", environment: [:], file: "c.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.diagnostics.map(\.line) == [3])
            #expect(error.diagnostics.first?.column == 6)
        }
    }

    @Test func invalidReferenceIsAnError() {
        #expect(throws: ConfigError.self) {
            try EnvironmentInterpolation.interpolate("k: ${1BAD}", environment: [:], file: "f")
        }
    }
}
