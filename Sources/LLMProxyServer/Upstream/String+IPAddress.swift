import LLMProxyCore

extension String {
    var isIPAddress: Bool {
        utf8.contains(UInt8(ascii: ":")) || (split(separator: ".").count == 4 && allSatisfy { $0 == "." || $0.isNumber })
    }
}
