import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct KeyStoreTests {
    let store = KeyStore(keys: [
        MasterKey(name: "a", key: "sk-alpha", rateLimit: nil, allowedModels: nil),
        MasterKey(name: "b", key: "sk-beta-longer", rateLimit: nil, allowedModels: nil),
    ])

    @Test func findsKeysExactly() {
        #expect(store.lookup("sk-alpha") == 0)
        #expect(store.lookup("sk-beta-longer") == 1)
        #expect(store.lookup("sk-alph") == nil)
        #expect(store.lookup("sk-alphaa") == nil)
        #expect(store.lookup("") == nil)
        // As the gateway presents keys (a slice of a header value), and as a
        // collection without contiguous bytes.
        #expect(store.lookup("Bearer sk-beta-longer".utf8.dropFirst(7)) == 1)
        #expect(store.lookup("Bearer sk-beta-long".utf8.dropFirst(7)) == nil)
        #expect(store.lookup("ahpla-ks".utf8.reversed()) == 0)
        #expect(store.lookup("ahpl-ks".utf8.reversed()) == nil)
        #expect(!store.isOpen)
        #expect(KeyStore(keys: []).isOpen)
    }

    @Test func constantTimeComparison() {
        #expect(KeyStore.constantTimeEquals(Array("abc".utf8), "abc".utf8))
        #expect(!KeyStore.constantTimeEquals(Array("abc".utf8), "abd".utf8))
        #expect(!KeyStore.constantTimeEquals(Array("abc".utf8), "ab".utf8))
        #expect(!KeyStore.constantTimeEquals(Array("ab".utf8), "abc".utf8))
    }
}

@Suite struct OpenAIErrorTests {
    func decode(_ error: OpenAIError) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(error.jsonBody.utf8)) as? [String: Any]
        return try #require(object?["error"] as? [String: Any])
    }

    @Test(arguments: [
        (OpenAIError.invalidRequest("bad"), 400, "invalid_request_error", nil as String?),
        (.invalidAPIKey(presented: true), 401, "authentication_error", "invalid_api_key"),
        (.modelNotAllowed("m"), 403, "permission_error", "model_not_allowed"),
        (.notFound(path: "/x"), 404, "invalid_request_error", "not_found"),
        (.modelNotFound("m"), 404, "invalid_request_error", "model_not_found"),
        (.requestTooLarge(limit: 10), 413, "invalid_request_error", "request_too_large"),
        (.rateLimited(keyName: "k", retryAfter: 2, reason: "requests"), 429, "rate_limit_error", "rate_limit_exceeded"),
        (.upstreamUnavailable("down"), 502, "api_error", "upstream_unavailable"),
        (.upstreamTimeout(seconds: 30), 504, "api_error", "upstream_timeout"),
        (.streamInterrupted("cut"), 502, "api_error", "upstream_stream_interrupted"),
    ])
    func everyRowRendersOpenAIShape(error: OpenAIError, status: Int, type: String, code: String?) throws {
        #expect(error.status == status)
        let body = try decode(error)
        #expect(body["type"] as? String == type)
        #expect(body["code"] as? String == code)
        #expect(body["message"] is String)
        #expect(body.keys.contains("param"))
    }

    @Test func messagesAreEscaped() throws {
        let body = try decode(.invalidRequest("quote \" backslash \\ newline \n tab \t bell \u{7}"))
        #expect(body["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7}")
    }

    @Test func quotedTakesTheFastPathOnlyForPlainText() {
        #expect(JSONString.quoted("gpt-4o-2024-08-06") == "\"gpt-4o-2024-08-06\"")
        #expect(JSONString.quoted("modèle/ü") == "\"modèle/ü\"")
        #expect(JSONString.quoted("a\"b\\c\nd\u{1}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
    }

    @Test func streamEventIsOneSSEDataLine() {
        let event = OpenAIError.streamInterrupted("x").sseEvent
        #expect(event.hasPrefix("data: {\"error\":") && event.hasSuffix("}\n\n"))
        #expect(OpenAIError.rateLimited(keyName: "k", retryAfter: 3, reason: "r").retryAfter == 3)
    }
}
