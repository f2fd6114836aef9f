@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOHTTP1
import Testing

@Suite struct GatewayRouteTests {
    @Test func splitsPathAndQueryAtTheFirstQuestionMark() {
        let chat = GatewayRoute.match(method: .POST, uri: "/v1/chat/completions?x=1?y=2")
        #expect(chat.path == "/v1/chat/completions" && chat.query == "x=1?y=2")
        guard case .proxy(.chatCompletions, nil) = chat.route else {
            Issue.record("not routed to chat completions: \(chat.route)")
            return
        }
        let health = GatewayRoute.match(method: .GET, uri: "/health")
        #expect(health.path == "/health" && health.query == nil)
        let emptyQuery = GatewayRoute.match(method: .GET, uri: "/health?")
        #expect(emptyQuery.path == "/health" && emptyQuery.query == "")
        // Multi-byte characters before the query keep the split on byte boundaries.
        let unicode = GatewayRoute.match(method: .GET, uri: "/é漢?q=ü")
        #expect(unicode.path == "/é漢" && unicode.query == "q=ü")
        guard case .notFound = unicode.route else {
            Issue.record("unexpected route \(unicode.route)")
            return
        }
        let gemini = GatewayRoute.match(method: .POST, uri: "/v1beta/models/gemini-1.5-pro:generateContent?key=k")
        #expect(gemini.path == "/v1beta/models/gemini-1.5-pro:generateContent" && gemini.query == "key=k")
    }
}
