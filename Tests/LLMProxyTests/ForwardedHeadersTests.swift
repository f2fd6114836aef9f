import NIOHTTP1
import Testing
@testable import LLMProxy

@Suite struct ForwardedHeadersTests {
    @Test func headerNamesCompareCaseInsensitivelyOnlyForLetters() {
        #expect("Content-Type".isHeaderName("content-type"))
        #expect("X-Goog-Api-Key".isHeaderName(in: ["authorization", "x-goog-api-key"]))
        #expect(!"content-typ".isHeaderName("content-type"))
        // '[' and '{' differ only in the 0x20 bit but are not letters.
        #expect(!"a[".isHeaderName("a{"))
        #expect(!"a@".isHeaderName("a`"))
    }

    @Test func upstreamHeadersDropHopByHopCredentialsAndConnectionListedNames() {
        let client = HTTPHeaders([
            ("Host", "gateway"), ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"), ("Authorization", "Bearer sk-client"),
            ("API-Key", "sk-client"), ("Accept-Encoding", "gzip"), ("OpenAI-Beta", "v2"), ("content-type", "application/json"),
            ("OpenAI-Organization", "client-org"),
        ])
        let plan = UpstreamRequestPlan(
            target: "/v1/chat/completions",
            headers: [.init(name: "openai-organization", value: "org-1"), .init(name: "Authorization", value: "Bearer sk-up")],
            replacesModel: true)
        let headers = ForwardedHeaders.upstreamRequest(client: client, plan: plan, host: "api.example", contentLength: 10)
        #expect(headers["host"] == ["api.example"])
        #expect(headers["authorization"] == ["Bearer sk-up"])
        #expect(headers["openai-organization"] == ["org-1"])
        #expect(headers["openai-beta"] == ["v2"] && headers["content-type"] == ["application/json"])
        #expect(headers["x-hop"].isEmpty && headers["connection"].isEmpty && headers["api-key"].isEmpty)
        #expect(headers["accept-encoding"].isEmpty && headers["content-length"] == ["10"])
    }
}
