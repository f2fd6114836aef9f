@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import NIOHTTP1
import Testing

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
        var headers = HTTPHeaders()
        ForwardedHeaders.upstreamRequest(client: client, plan: plan, host: "api.example", contentLength: 10, requestID: "rid-1") {
            headers.add(name: $0, value: $1)
        }
        #expect(headers["host"] == ["api.example"])
        #expect(headers["authorization"] == ["Bearer sk-up"])
        #expect(headers["openai-organization"] == ["org-1"])
        #expect(headers["openai-beta"] == ["v2"] && headers["content-type"] == ["application/json"])
        #expect(headers["x-hop"].isEmpty && headers["connection"].isEmpty && headers["api-key"].isEmpty)
        #expect(headers["accept-encoding"].isEmpty && headers["content-length"] == ["10"])
        #expect(headers["x-request-id"] == ["rid-1"])
        #expect(headers.count == 7)
    }

    @Test func clientRequestIDIsForwardedInsteadOfOurs() {
        let client = HTTPHeaders([("X-Request-Id", "client-7"), ("Connection", "close")])
        var headers = HTTPHeaders()
        ForwardedHeaders.upstreamRequest(
            client: client, plan: UpstreamRequestPlan(target: "/", headers: [], replacesModel: false), host: "h",
            contentLength: 0, requestID: "ours"
        ) { headers.add(name: $0, value: $1) }
        #expect(headers["x-request-id"] == ["client-7"])
        #expect(headers["connection"].isEmpty && headers["content-type"].isEmpty)
    }

    @Test func encodedRequestIsOneHTTPMessage() {
        let plan = UpstreamRequestPlan(
            target: "/openai/deployments/gpt/chat/completions?api-version=2024-10-21",
            headers: [.init(name: "api-key", value: "k")], replacesModel: false)
        let body = ByteBuffer(string: "{\"a\":1}")
        let encoded = UpstreamRequestEncoder.encode(
            method: .POST, plan: plan, host: "r.openai.azure.com", client: HTTPHeaders([("Content-Type", "application/json")]),
            requestID: "id1", body: body, replacingModel: nil, allocator: ByteBufferAllocator())
        #expect(String(buffer: encoded) == """
            POST /openai/deployments/gpt/chat/completions?api-version=2024-10-21 HTTP/1.1\r
            Host: r.openai.azure.com\r
            Content-Type: application/json\r
            api-key: k\r
            Content-Length: 7\r
            X-Request-Id: id1\r
            \r
            {"a":1}
            """)
    }
}
