@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct ModelRouterTests {
    func router(_ yaml: String, suffix: String? = nil) throws -> ModelRouter {
        let config = try ConfigLoader.load(text: yaml, file: "f", environment: [:])
        return ModelRouter(providers: config.providers, providerSuffix: suffix ?? config.providerSuffix)
    }

    let yaml = """
        provider_suffix: Proxy
        providers:
          - name: a
            api_base: http://a
            api_key: k
            model_mapping:
              "gpt-.*": regex-target
              gpt-4o: exact-target
              "claude-(.*)-(v\\\\d)": "anthropic.claude-$1-$2"
              "gemini-*": gemini-pro
          - name: b
            api_base: http://b
            api_key: k
            model_mapping:
              gpt-4o: b-gpt
          - name: off
            api_base: http://c
            api_key: k
            enabled: false
        """

    @Test func classification() {
        #expect(ModelPattern.kind(of: "gpt-4o") == .exact)
        #expect(ModelPattern.kind(of: "gpt-4.1") == .exact)
        #expect(ModelPattern.kind(of: "gemini-*") == .wildcard)
        #expect(ModelPattern.kind(of: "claude-opus-4-5-.*") == .regularExpression)
        for marker in ["^a", "a$", "a+", "a?", "(a)", "[a]", "a{2}", "a|b", "a\\d"] {
            #expect(ModelPattern.kind(of: marker) == .regularExpression, "\(marker)")
        }
    }

    @Test func exactBeatsPatternsAndPatternsGoInFileOrder() throws {
        let router = try router(yaml)
        let route = try #require(router.resolve("gpt-4o"))
        #expect(route.candidates == [.init(providerIndex: 0, upstreamModel: "exact-target"), .init(providerIndex: 1, upstreamModel: "b-gpt")])
        #expect(router.resolve("gpt-3.5")?.candidates == [.init(providerIndex: 0, upstreamModel: "regex-target")])
    }

    @Test func regexCapturesExpandInTargets() throws {
        let route = try router(yaml).resolve("claude-opus-v2")
        #expect(route?.candidates.first?.upstreamModel == "anthropic.claude-opus-v2")
    }

    @Test func wildcardAndWholeNameMatching() throws {
        let router = try router(yaml)
        #expect(router.resolve("gemini-1.5-pro")?.candidates.first?.upstreamModel == "gemini-pro")
        #expect(router.resolve("xgemini-1") == nil)  // whole name, not a substring
        #expect(router.resolve("my-gpt-4") == nil)  // regex anchored at both ends
        #expect(router.resolve("claude-opus-v2x") == nil)
    }

    @Test func suffixIsStrippedOnlyForTheConfiguredPrefix() throws {
        let router = try router(yaml)
        #expect(router.normalize("Proxy/gpt-4o") == "gpt-4o")
        #expect(router.normalize("Other/gpt-4o") == "Other/gpt-4o")
        #expect(router.resolve("Proxy/gpt-4o")?.candidates.count == 2)
        #expect(router.resolve("Other/gpt-4o") == nil)
    }

    @Test func providerWithoutMappingServesEveryNameAndDisabledServeNothing() throws {
        let router = try router("""
            providers:
              - name: any
                api_base: http://a
                api_key: ""
              - name: off
                api_base: http://b
                api_key: ""
                enabled: false
            """)
        #expect(router.resolve("whatever/model:v1")?.candidates == [.init(providerIndex: 0, upstreamModel: "whatever/model:v1")])
    }

    @Test func unknownModelResolvesToNothing() throws {
        #expect(try router(yaml).resolve("llama-3") == nil)
    }

    @Test func modelListHasExactKeysOnceAndProbedModels() throws {
        let router = try router(yaml + "\n  - name: vllm\n    api_base: http://v\n    api_key: \"\"\n")
        let ids = router.listedModels { $0 == 3 ? ["llama-3", "gpt-4o"] : [] }
        #expect(ids == ["gpt-4o", "llama-3"])
    }

    @Test func wildcardMatcherHandlesStars() {
        #expect(ModelPattern.wildcardMatches(pattern: "a*b*c".utf8, name: "axxbyyc".utf8))
        #expect(ModelPattern.wildcardMatches(pattern: "*".utf8, name: "".utf8))
        #expect(!ModelPattern.wildcardMatches(pattern: "a*b".utf8, name: "ab c".utf8))
        #expect(ModelPattern.wildcardMatches(pattern: "gpt-4.?*".utf8, name: "gpt-4.?o".utf8))
        #expect(!ModelPattern.wildcardMatches(pattern: (String(repeating: "a*", count: 30) + "b").utf8, name: String(repeating: "a", count: 60).utf8))
    }

    @Test func allowedModelsUseTheSameRules() throws {
        let key = MasterKey(name: "k", key: "s", rateLimit: nil, allowedModels: [try ModelPattern("gpt-*"), try ModelPattern("claude-opus-4-5-.*"), try ModelPattern("demo")])
        #expect(key.allows(model: "gpt-4o") && key.allows(model: "claude-opus-4-5-2025") && key.allows(model: "demo"))
        #expect(!key.allows(model: "demo2") && !key.allows(model: "xgpt-4"))
    }
}

