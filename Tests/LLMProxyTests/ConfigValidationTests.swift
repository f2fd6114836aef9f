@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct ConfigValidationTests {
    let valid = """
        server:
          port: 9000
          request_timeout_seconds: 30
        provider_suffix: Proxy
        providers:
          - name: openai-main
            type: openai
            api_base: https://api.openai.com/v1
            api_key: sk-real
            weight: 2
            headers: {OpenAI-Organization: org-123}
            model_mapping:
              gpt-4o: gpt-4o-2024-08-06
              "claude-(.*)": "anthropic.claude-$1"
          - name: local
            api_base: http://127.0.0.1:8000/v1
            api_key: ""
        master_keys:
          - name: Prod
            key: sk-prod
            rate_limit: {requests_per_second: 10}
            allowed_models: ["gpt-*"]
        health_check: {interval_seconds: 5, path: /models}
        retry: {max_attempts: 3}
        """

    func errors(_ yaml: String, environment: [String: String] = [:]) -> [ConfigDiagnostic] {
        do {
            _ = try ConfigLoader.load(text: yaml, file: "config.yaml", environment: environment)
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test func validConfigParsesWithDefaults() throws {
        let config = try ConfigLoader.load(text: valid, file: "config.yaml", environment: [:])
        #expect(config.server.port == 9000)
        #expect(config.server.host == "0.0.0.0")
        #expect(config.server.maxBodyBytes == 10_485_760)
        #expect(config.server.requestTimeoutSeconds == 30)
        #expect(config.providers.count == 2)
        #expect(config.providers[0].weight == 2)
        #expect(config.providers[0].headers.first?.name == "OpenAI-Organization")
        #expect(config.providers[0].endpoint == UpstreamEndpoint(parsing: "https://api.openai.com/v1"))
        #expect(config.providers[1].type == .openai)
        #expect(config.providers[1].apiKey == "")
        #expect(config.providers[1].modelMapping == nil)
        #expect(config.masterKeys[0].rateLimit == RateLimitConfig(requestsPerSecond: 10, burstSize: 10, tokensPerMinute: nil))
        #expect(config.healthCheck.intervalSeconds == 5)
        #expect(config.healthCheck.unhealthyThreshold == 3)
        #expect(config.retry.maxAttempts == 3)
        #expect(config.providerSuffix == "Proxy")
    }

    /// The config is composed with Yams' `basic` resolver (no tag rules):
    /// every scalar is read from its text, so YAML 1.1's typed-looking forms
    /// mean what the parser makes of them, anchors still resolve, and a
    /// merge key is an unknown key as it always was.
    @Test func scalarsAreReadFromTheirTextWithoutTagRules() throws {
        let yaml = """
            verify_ssl: no
            watch_config: On
            server: {port: 9_000, request_timeout_seconds: 2.5e1}
            providers:
              - &first
                name: "0123"
                api_base: http://127.0.0.1:8000/v1
                api_key: 0x1F
                weight: 0002
            master_keys:
              - {name: *first, key: sk-a}
            """
        #expect(errors(yaml).map(\.message) == ["master key name must be a string"])
        let config = try ConfigLoader.load(
            text: yaml.replacingOccurrences(of: "name: *first", with: "name: \"~\""), file: "config.yaml", environment: [:])
        #expect(config.verifySSL == false)
        #expect(config.watchConfig == true)
        #expect(config.server.port == 9000)
        #expect(config.server.requestTimeoutSeconds == 25)
        #expect(config.providers.map(\.name) == ["0123"])
        #expect(config.providers[0].apiKey == "0x1F")
        #expect(config.providers[0].weight == 2)
        #expect(config.masterKeys.map(\.name) == ["~"])

        let merged = yaml + "\n  - <<: *first\n"
        #expect(errors(merged).contains { $0.message.contains("'<<'") })
    }

    @Test func unknownKeysAreRejectedWithLineAndSuggestion() {
        let yaml = """
            server:
              prot: 9000
            providers:
              - name: a
                api_base: http://x
                api_key: k
                wieght: 2
            retries: {max_attempts: 2}
            """
        let found = errors(yaml)
        #expect(found.map(\.line) == [2, 7, 8])
        #expect(found[0].message.contains("'prot'") && found[0].message.contains("did you mean 'port'"))
        #expect(found[1].message.contains("'wieght'") && found[1].message.contains("'weight'"))
        #expect(found[1].column == 5)
        #expect(found[2].message.contains("'retries'"))
    }

    @Test func everyListedValidationCaseIsReportedWithItsLine() {
        let yaml = """
            server:
              port: 70000
            providers:
              - name: dup
                api_base: http://a
                api_key: k
              - name: dup
                api_base: ftp://b
                api_key: k
                weight: 0
              - name: rx
                api_base: http://c
                api_key: k
                model_mapping:
                  "gpt-(4": x
              - name: nokey
                type: azure
                api_base: https://x.openai.azure.com
              - name: emptykey
                type: gemini
                api_base: https://g
                api_key: ""
            master_keys:
              - name: one
                key: same
              - name: two
                key: same
            """
        let found = errors(yaml)
        func line(containing text: String) -> Int? { found.first { $0.message.contains(text) }?.line }
        #expect(line(containing: "between 1 and 65535") == 2)
        #expect(line(containing: "duplicate provider name 'dup'") == 7)
        #expect(line(containing: "not an http(s) URL") == 8)
        #expect(line(containing: "weight must be an integer >= 1") == 10)
        #expect(line(containing: "not a valid regular expression") == 15)
        #expect(line(containing: "needs an 'api_key'") == 16)
        #expect(line(containing: "api_key is empty") == 22)
        #expect(line(containing: "duplicate key value") == 27)
        // Secrets never appear in messages.
        #expect(!found.contains { $0.message.contains("same") })
        #expect(found.count == 8)
    }

    @Test func yamlSyntaxErrorHasLineAndColumn() {
        let found = errors("providers:\n  - name: a\n    api_base: [unclosed\n")
        #expect(found.count == 1)
        #expect(found[0].message.hasPrefix("invalid YAML"))
        #expect(found[0].line >= 3)
    }

    @Test func missingProvidersAndWrongTypes() {
        #expect(errors("server: {port: 1}").first?.message.contains("'providers' is missing") == true)
        let found = errors("verify_ssl: maybe\nproviders: []\nretry: {max_attempts: zero}")
        #expect(found.map(\.line).sorted() == [1, 2, 3])
    }

    @Test func anthropicProvidersDefaultTheirBaseAndNeedAKey() throws {
        let config = try ConfigLoader.load(text: "providers:\n  - name: claude\n    type: anthropic\n    api_key: sk-ant\n", file: "f", environment: [:])
        #expect(config.providers[0].type == .anthropic)
        #expect(config.providers[0].endpoint == UpstreamEndpoint(parsing: "https://api.anthropic.com"))
        let missing = errors("providers:\n  - name: claude\n    type: anthropic\n")
        #expect(missing.count == 1 && missing[0].line == 2 && missing[0].message.contains("needs an 'api_key'"))
        let empty = errors("providers:\n  - name: claude\n    type: anthropic\n    api_key: \"\"\n")
        #expect(empty.count == 1 && empty[0].line == 4 && empty[0].message.contains("api_key is empty"))
        let typo = errors("providers:\n  - name: claude\n    type: antropic\n    api_key: k\n")
        #expect(typo.contains { $0.line == 3 && $0.message.contains("unknown type") && $0.message.contains("anthropic") })
    }

    @Test func modelLimitsAreParsedInFileOrderAndValidated() throws {
        let yaml = """
            providers: [{name: m, type: mock}]
            master_keys:
              - name: k
                key: sk-k
                model_limits:
                  "gpt-4o*": {requests_per_second: 10, burst_size: 20, tokens_per_minute: 50000}
                  "claude-(.*)": {requests_per_second: 1}
            """
        let config = try ConfigLoader.load(text: yaml, file: "f", environment: [:])
        let limits = config.masterKeys[0].modelLimits
        #expect(limits.map(\.source) == ["gpt-4o*", "claude-(.*)"])
        #expect(limits[0].limits == RateLimitConfig(requestsPerSecond: 10, burstSize: 20, tokensPerMinute: 50000))
        #expect(config.masterKeys[0].modelLimit(for: "gpt-4o-mini") == 0 && config.masterKeys[0].modelLimit(for: "claude-x") == 1)
        #expect(config.masterKeys[0].modelLimit(for: "gemini") == nil)
        let bad = errors("""
            providers: [{name: m, type: mock}]
            master_keys:
              - name: k
                key: sk-k
                model_limits:
                  "gpt-(": {requests_per_second: 1}
                  "a": {requests_per_second: 0}
                  "b": {requests_per_second: 1, burst: 2}
            """)
        #expect(bad.contains { $0.line == 6 && $0.message.contains("not a valid regular expression") })
        #expect(bad.contains { $0.line == 7 && $0.message.contains("requests_per_second must be a number > 0") })
        #expect(bad.contains { $0.line == 8 && $0.message.contains("burst") })
    }

    @Test func unsetEnvironmentVariableFailsTheLoad() {
        let found = errors("providers:\n  - name: a\n    api_base: http://x\n    api_key: ${NOPE_KEY}\n")
        #expect(found.count == 1 && found[0].line == 4 && found[0].message.contains("NOPE_KEY"))
    }

    @Test func emptyKeyFromAnUnsetVariableIsADeclaredEmptyKey() throws {
        let yaml = "providers:\n  - name: vllm\n    api_base: http://x\n    api_key: ${VLLM_KEY:-}\n  - name: az\n    type: azure\n    api_base: https://a\n    api_key: ${AZ_KEY:-}\n"
        let found = errors(yaml)
        #expect(found.count == 1 && found[0].line == 8 && found[0].message.contains("api_key is empty"))
        let config = try ConfigLoader.load(text: yaml, file: "f", environment: ["AZ_KEY": "k"])
        #expect(config.providers[0].apiKey == "" && config.providers[1].apiKey == "k")
    }

    @Test func mockProvidersNeedNoBaseOrKey() throws {
        let config = try ConfigLoader.load(text: "providers:\n  - name: m\n    type: mock\n", file: "f", environment: [:])
        #expect(config.providers[0].type == .mock && config.providers[0].endpoint == nil)
    }

    @Test func overridesBeatTheFile() throws {
        let sources = SettingSources(
            flags: SettingOverrides(port: 7000), environment: ["HOST": "127.0.0.9", "PORT": "7100", "VERIFY_SSL": "false"],
            dotEnv: ["PROVIDER_SUFFIX": "Gw", "HOST": "10.0.0.1", "CONFIG_PATH": "/etc/x.yaml"])
        let overrides = try sources.resolvedOverrides()
        #expect(overrides.port == 7000)  // flag > env
        #expect(overrides.host == "127.0.0.9")  // env > .env
        #expect(overrides.providerSuffix == "Gw")  // .env > yaml
        #expect(overrides.verifySSL == false)
        #expect(sources.configPath == "/etc/x.yaml")
        var config = try ConfigLoader.load(text: valid, file: "f", environment: [:], overrides: overrides)
        #expect(config.server.port == 7000 && config.server.host == "127.0.0.9" && !config.verifySSL && config.providerSuffix == "Gw")
        ConfigLoader.apply(SettingOverrides(), to: &config)
        #expect(config.server.port == 7000)
    }

    @Test func badEnvironmentSettingIsAnError() {
        #expect(throws: ConfigError.self) {
            try SettingSources(environment: ["PORT": "http"]).resolvedOverrides()
        }
    }

    @Test func dotEnvParsing() throws {
        let values = try DotEnv.parse("# comment\nexport A=1\nB = \"two words\"\nC=x # trailing\n\nD='q'", file: ".env")
        #expect(values == ["A": "1", "B": "two words", "C": "x", "D": "q"])
    }

    @Test func apiBaseParsing() {
        let endpoint = UpstreamEndpoint(parsing: "https://example.com:8443/v1/")
        #expect(endpoint?.useTLS == true && endpoint?.port == 8443 && endpoint?.basePath == "/v1" && endpoint?.hostHeader == "example.com:8443")
        #expect(UpstreamEndpoint(parsing: "http://127.0.0.1")?.port == 80)
        #expect(UpstreamEndpoint(parsing: "http://[::1]:9000/x")?.host == "::1")
        #expect(UpstreamEndpoint(parsing: "example.com") == nil)
        #expect(UpstreamEndpoint(parsing: "https://") == nil)
        #expect(UpstreamEndpoint(parsing: "http://h:99999") == nil)
    }

    @Test func shippedConfigIsValid() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/LLMProxyTests/ConfigValidationTests.swift", with: "config.yaml")
        let config = try ConfigLoader.load(path: path, environment: [:])
        #expect(config.providers.contains { $0.type == .mock })
        #expect(config.masterKeys.first?.key == "sk-dev-key")
    }
}
