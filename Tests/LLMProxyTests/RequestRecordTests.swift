@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Testing

@Suite struct RequestRecordTests {
    @Test func generatedIDsAreSixteenLowerCaseHexDigits() {
        #expect(RequestRecord.hex(0) == "0000000000000000")
        #expect(RequestRecord.hex(0xDEAD_BEEF) == "00000000deadbeef")
        #expect(RequestRecord.hex(0x0123_4567_89AB_CDEF) == "0123456789abcdef")
        #expect(RequestRecord.hex(.max) == "ffffffffffffffff")
        var generator = RequestIDGenerator(seed: 1)
        let first = RequestRecord.requestID(from: nil, generator: &generator)
        let second = RequestRecord.requestID(from: nil, generator: &generator)
        #expect(first.utf8.count == 16 && second.utf8.count == 16 && first != second)
    }

    @Test func onlySaneClientIDsAreKept() {
        var generator = RequestIDGenerator(seed: 1)
        #expect(RequestRecord.requestID(from: "abc-123", generator: &generator) == "abc-123")
        #expect(RequestRecord.requestID(from: "bad id", generator: &generator).utf8.count == 16)
        #expect(RequestRecord.requestID(from: "q\"uote", generator: &generator).utf8.count == 16)
        #expect(RequestRecord.requestID(from: String(repeating: "a", count: 129), generator: &generator).utf8.count == 16)
    }
}
