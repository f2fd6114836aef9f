@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct ModelFieldScannerTests {
    func scan(_ text: String) throws(ModelFieldScanner.Failure) -> ModelFieldScanner.Field? {
        try ModelFieldScanner.scan(Array(text.utf8))
    }

    @Test func findsTopLevelModelWithAnyLayout() throws {
        let body = "{ \"messages\" : [{\"model\":\"nested\"}], \"x\": \"\\\"model\\\": \\\"in string\\\"\" ,\n\t\"model\"  :  \"gpt-4o\" , \"n\": -1.5e3}"
        let field = try #require(try scan(body))
        #expect(field.model == "gpt-4o")
        let bytes = Array(body.utf8)
        #expect(String(decoding: bytes[field.valueRange], as: UTF8.self) == "\"gpt-4o\"")
    }

    @Test func eightByteSkipStopsExactlyAtTheFirstQuoteBackslashOrControlByte() {
        let filler = UInt8(ascii: "a")
        func word(_ bytes: [UInt8]) -> UInt64 { UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
        for byte in 0...255 {
            let special = byte == 0x22 || byte == 0x5C || byte < 0x20
            for position in 0..<8 {
                var bytes = [UInt8](repeating: filler, count: 8)
                bytes[position] = UInt8(byte)
                let found = ModelFieldScanner.stringSpecialBytes(word(bytes))
                if special {
                    #expect(found.trailingZeroBitCount >> 3 == position, "byte \(byte) at \(position)")
                    // A second one later in the word does not hide the first.
                    if position < 7 {
                        bytes[7] = 0x22
                        #expect(ModelFieldScanner.stringSpecialBytes(word(bytes)).trailingZeroBitCount >> 3 == position)
                    }
                } else {
                    #expect(found == 0, "byte \(byte) at \(position)")
                }
            }
        }
        // Every offset of an escape or a control character inside long strings, around word boundaries.
        let text = String(repeating: "lorem ipsum é ", count: 3)
        for offset in 0..<24 {
            var prompt = Array(text)
            prompt.insert(contentsOf: "\\\"", at: offset)
            let body = #"{"messages":[{"content":""# + String(prompt) + #""}],"model":"m"}"#
            #expect((try? scan(body))??.model == "m", "escape at \(offset)")
            var broken = Array(text)
            broken.insert("\u{01}", at: offset)
            #expect(throws: ModelFieldScanner.Failure.self) { try scan(#"{"content":""# + String(broken) + #"","model":"m"}"#) }
        }
    }

    @Test func decodesEscapesInTheValue() throws {
        #expect(try scan(#"{"model":"gpt\u002d4 \ud83d\ude00 \"q\""}"#)?.model == "gpt-4 😀 \"q\"")
        #expect(try scan(#"{"model":"é漢"}"#)?.model == "é漢")
    }

    @Test func missingModelIsNil() throws {
        #expect(try scan(#"{"messages":[],"models":"x","model_x":1}"#) == nil)
        #expect(try scan("{}") == nil)
    }

    @Test(arguments: [
        "", "[]", "\"model\"", "{", "{\"model\":\"a\"", "{\"model\":\"a\",}", "{\"model\" \"a\"}", "{\"a\":tru}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":\"\u{01}\"}", "{\"a\":\"\\x\"}", "{\"a\":1} x", "{\"a\":[1,]}", "{'a':1}",
        "{\"a\":\"\\u12g4\"}", "{\"a\":-}", "{\"a\":NaN}",
    ])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: ModelFieldScanner.Failure.self) { try scan(text) }
    }

    @Test func rejectsWhatAProviderCouldReadDifferently() {
        #expect(throws: ModelFieldScanner.Failure(message: "'model' is given more than once.", param: "model")) {
            try scan(#"{"model":"a","x":1,"model":"b"}"#)
        }
        #expect(throws: ModelFieldScanner.Failure(message: "The 'model' key must not be written with escape sequences.", param: "model")) {
            try scan(#"{"mod\u0065l":"a"}"#)
        }
        #expect(throws: ModelFieldScanner.Failure(message: "'model' must be a string.", param: "model")) {
            try scan(#"{"model":5}"#)
        }
        #expect(throws: ModelFieldScanner.Failure.self) { try scan(#"{"model":null}"#) }
    }

    @Test func deepNestingIsRefusedNotCrashed() throws {
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: ModelFieldScanner.Failure.self) { try scan(deep) }
        let ok = "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + ",\"model\":\"m\"}"
        #expect(try scan(ok)?.model == "m")
    }

    @Test func mixedContainersAreTrackedAtEveryDepth() throws {
        // 250 levels alternating arrays and objects: every word of the scanner's bit stack.
        func nested(_ depth: Int, close: (Int) -> String) -> String {
            var open = "", shut = ""
            for level in 0..<depth {
                open += level % 2 == 0 ? "[" : "{\"k\":"
                shut = close(level) + shut
            }
            return "{\"a\":" + open + "1" + shut + ",\"model\":\"m\"}"
        }
        #expect(try scan(nested(250) { $0 % 2 == 0 ? "]" : "}" })?.model == "m")
        // The wrong closer at level 130 (an array closed as an object) is an error.
        #expect(throws: ModelFieldScanner.Failure.self) {
            try scan(nested(250) { level in level == 130 ? "}" : (level % 2 == 0 ? "]" : "}") })
        }
        #expect(throws: ModelFieldScanner.Failure.self) { try scan(nested(257) { $0 % 2 == 0 ? "]" : "}" }) }
    }

    @Test func spliceReplacesOnlyTheValue() throws {
        let body = "{\n  \"z\": 1,\n  \"model\" : \"Proxy/gpt\",  \"é\": \"ü\"\n}"
        let field = try #require(try scan(body))
        var buffer = ByteBufferLike.make("xx" + body)
        buffer.moveReaderIndex(forwardBy: 2)
        let encoded = UpstreamRequestEncoder.encode(
            method: .POST, plan: UpstreamRequestPlan(target: "/v1/chat/completions", headers: [], replacesModel: true),
            host: "h", client: [:], requestID: nil, body: buffer,
            replacingModel: .init(range: field.valueRange, model: "up\"stream"), allocator: ByteBufferAllocator())
        let text = String(buffer: encoded)
        let expected = "{\n  \"z\": 1,\n  \"model\" : \"up\\\"stream\",  \"é\": \"ü\"\n}"
        #expect(text.hasSuffix("\r\n\r\n" + expected))
        #expect(text.contains("Content-Length: \(expected.utf8.count)\r\n"))
    }
}

import NIOCore
enum ByteBufferLike {
    static func make(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
}
