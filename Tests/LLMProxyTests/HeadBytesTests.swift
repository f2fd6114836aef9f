@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import NIOHTTP1
import Testing

/// The byte writers and matchers the request path uses instead of `String`
/// building: each must give exactly what the plain version gives.
@Suite struct HeadBytesTests {
    @Test func headerLinesAreByteIdenticalToSeparateWrites() {
        let values = ["", "x", "application/json", "Bearer sk-\(String(repeating: "k", count: 300))", "modèle/ü ✓"]
        for name in ["", "A", "Content-Type", "X-Very-Long-Header-Name-\(String(repeating: "n", count: 40))"] {
            for value in values {
                // Behind a status line, with no spare room: the line has to grow the buffer.
                var fast = ByteBuffer(string: "HTTP/1.1 200 OK\r\n")
                var slow = fast
                fast.writeHTTPHeader(name, value)
                slow.writeString(name)
                slow.writeString(": ")
                slow.writeString(value)
                slow.writeString("\r\n")
                #expect(fast == slow, "\(name): \(value)")
            }
        }
        // Small (inline) strings have contiguous bytes too.
        var buffer = ByteBuffer()
        buffer.writeHTTPHeader("Host", String("xx api.example".dropFirst(3)))
        #expect(String(buffer: buffer) == "Host: api.example\r\n")
    }

    @Test func decimalsMatchStringConversion() {
        for value in [0, 7, 9, 10, 99, 100, 200, 404, 65_536, 1_234_567_890, Int.max] {
            var buffer = ByteBuffer()
            buffer.writeDecimal(value)
            #expect(String(buffer: buffer) == String(value))
        }
        var header = ByteBuffer()
        header.writeHTTPHeader("Content-Length", decimal: 1024)
        #expect(String(buffer: header) == "Content-Length: 1024\r\n")
    }

    @Test func jsonStringsAreQuotedAndEscapedOnlyWhenNeeded() {
        // As the provider request's model: the spliced value is `JSONString.quoted`
        // of it, and Content-Length counts what was written.
        let body = ByteBuffer(string: #"{"model":"m","n":1}"#)
        let plan = UpstreamRequestPlan(target: "/v1/chat/completions", headers: [], replacesModel: true)
        for value in ["gpt-4o-2024-08-06", "", "modèle/ü", "a\"b", "back\\slash", "tab\there", "nl\n", "\u{1}", "x\u{1f}y"] {
            let encoded = UpstreamRequestEncoder.encode(
                method: .POST, plan: plan, host: "h", client: HTTPHeaders(), requestID: nil, body: body,
                replacingModel: .init(range: 9..<12, model: value), allocator: ByteBufferAllocator())
            let text = String(buffer: encoded)
            let parts = text.components(separatedBy: "\r\n\r\n")
            let sent = parts.dropFirst().joined(separator: "\r\n\r\n")
            #expect(sent == #"{"model":"# + JSONString.quoted(value) + #","n":1}"#, "\(value.debugDescription)")
            #expect((parts[0] + "\r\n").contains("\r\nContent-Length: \(sent.utf8.count)\r\n"), "\(value.debugDescription)")
        }
        #expect(!JSONString.needsEscaping("plain model-name_1.5"))
        #expect(JSONString.needsEscaping("a\u{7}") && JSONString.needsEscaping("\"") && JSONString.needsEscaping("\\"))
        // Bytes above 0x7F (UTF-8 continuation bytes) are not special.
        #expect(!JSONString.needsEscaping("ü✓"))
    }

    @Test func caseInsensitiveByteEqualityAgreesWithTheGenericVersion() {
        let words = ["", "a", "A", "[", "{", "@", "`", "content-type", "Content-Type", "CONTENT-TYPE", "content_type", "content-typ"]
        for left in words {
            for right in words {
                let generic = left.utf8.elementsEqualIgnoringASCIICase(right.utf8)
                let fast = left.utf8.withContiguousStorageIfAvailable { l in
                    right.utf8.withContiguousStorageIfAvailable { r in l.equalsIgnoringASCIICase(r) }
                }
                #expect(fast == generic, "\(left) vs \(right)")
                #expect(left.isHeaderName(right) == generic)
            }
        }
    }

    @Test func bearerCredentialsAreFoundWhateverTheSchemeCaseAndSpacing() {
        func credential(_ authorization: String) -> String? {
            ClientCredential.find(RequestHeadFacts(HTTPHeaders([("Authorization", authorization)])), query: nil).map(String.init)
        }
        #expect(credential("Bearer sk-test") == "sk-test")
        #expect(credential("bearer sk-test") == "sk-test")
        #expect(credential("BEARER    sk-test") == "sk-test")
        // Not the Bearer scheme: the whole value is the key (Azure-style clients).
        #expect(credential("sk-test") == "sk-test")
        #expect(credential("Bearer") == "Bearer")
        #expect(credential("Bearer ") == "Bearer ")
        #expect(credential("Bearerx sk") == "Bearerx sk")
        #expect(credential("Bearer ü-key") == "ü-key")
        #expect(ClientCredential.find(RequestHeadFacts(HTTPHeaders([("api-key", "sk-azure")])), query: nil) == "sk-azure")
        #expect(ClientCredential.find(RequestHeadFacts(HTTPHeaders()), query: "alt=sse&key=AIza%2Bx") == "AIza+x")
    }

    @Test func headFactsTakeTheFirstOfEachHeaderInAnyCase() {
        let facts = RequestHeadFacts(HTTPHeaders([
            ("Host", "g"), ("X-REQUEST-ID", "rid-1"), ("x-request-id", "rid-2"), ("AUTHORIZATION", "Bearer a"),
            ("Api-Key", "k1"), ("X-Goog-Api-Key", "g1"), ("Content-Length", "12"), ("content-length", "13"),
            ("Expect", "100-Continue"), ("X-Request-Idx", "no"), ("authorizatio", "no"),
        ]))
        #expect(facts.requestID == "rid-1" && facts.authorization == "Bearer a" && facts.apiKey == "k1")
        #expect(facts.googleAPIKey == "g1" && facts.contentLength == "12" && facts.expectsContinue)
        let none = RequestHeadFacts(HTTPHeaders([("Expect", "something-else"), ("X-Goog-Api-Kez", "x")]))
        #expect(!none.expectsContinue && none.googleAPIKey == nil && none.requestID == nil && none.contentLength == nil)
        // Authorization wins over api-key, x-goog-api-key and ?key=, wherever it stands.
        let both = RequestHeadFacts(HTTPHeaders([("x-goog-api-key", "g"), ("api-key", "a"), ("Authorization", "Bearer b")]))
        #expect(ClientCredential.find(both, query: "key=q") == "b")
    }

    @Test func headerNameSetsMatchEveryMemberInAnyCaseAndNothingElse() {
        let long = "x-" + String(repeating: "l", count: 70)
        let members = ["te", "host", "keep-alive", "connection", "content-length", "x-goog-api-key", long, long + "-longer"]
        let set = HeaderNameSet(members)
        for member in members {
            #expect(set.contains(member) && set.contains(member.uppercased()) && set.contains(Substring(member)))
        }
        // Same lengths as members, and lengths no member has.
        for other in ["tf", "hosT-", "keep-alivf", "connectioN2", "content-lengtx", "", "x", "x-" + String(repeating: "m", count: 70)] {
            #expect(!set.contains(other), "\(other)")
        }
    }

    /// Only an ASCII letter may differ from a member's in case (bit 0x20):
    /// any other byte that differs in that bit alone is another byte.
    @Test func headerNameSetsFoldTheCaseOfLettersOnly() {
        let set = HeaderNameSet(["content-length", "x-b3-sampled", "sec-ch-ua-2", "x-\u{e9}t\u{e9}"])
        #expect(set.contains("CONTENT-LENGTH") && set.contains("Content-Length") && set.contains("X-B3-Sampled"))
        #expect(set.contains("Sec-CH-UA-2") && set.contains("X-\u{e9}T\u{e9}"))
        // Each differs from a member in bit 0x20 of one byte that is not an
        // ASCII letter (`\r` for `-`, a control byte for a digit, `É` for `é`).
        for other in ["content\rlength", "x\rb3-sampled", "x-b\u{13}-sampled", "sec-ch-ua-\u{12}", "sec-ch-ua\r2", "x-\u{c9}t\u{e9}", "x-\u{e9}t\u{c9}"] {
            #expect(!set.contains(other), "\(other.debugDescription)")
        }
        // Bytes the same in case but not equal: `@` is not a `` ` ``, `[` not a `{`.
        let punctuation = HeaderNameSet(["a`b{c"])
        #expect(punctuation.contains("A`B{C") && !punctuation.contains("a@b{c") && !punctuation.contains("a`b[c"))
    }
}

@Suite struct HexDigitsTests {
    @Test func hexDigitsMatchTheStandardLibrary() {
        for value in [0, 1, 9, 10, 15, 16, 255, 256, 4095, 65535, 1 << 20, Int(Int32.max), Int.max] {
            var buffer = ByteBuffer()
            buffer.writeHexadecimal(value)
            #expect(buffer.readString(length: buffer.readableBytes) == String(value, radix: 16))
            #expect(HexDigits.count(UInt64(value)) == String(value, radix: 16).count)
        }
        #expect(HexDigits.string(0xff, width: 4) == "00ff")
        #expect(HexDigits.string(0xab, width: 2, uppercase: true) == "AB")
        #expect(HexDigits.string(UInt64.max, width: 16) == "ffffffffffffffff")
        #expect(JSONString.quoted("a\u{1}b") == "\"a\\u0001b\"")
        #expect(PercentEncoding.encodePathSegment("a b/é") == "a%20b%2F%C3%A9")
    }
}
