import LLMProxyCore
import NIOCore

extension String {
    var isIPAddress: Bool {
        utf8.contains(UInt8(ascii: ":")) || (split(separator: ".").count == 4 && allSatisfy { $0 == "." || $0.isNumber })
    }
}

extension SocketAddress {
    /// `host` as an address without a resolver (nil for a name): a provider
    /// connected to, or the listener bound, without `getaddrinfo`.
    static func ipLiteral(_ host: String, port: Int) -> SocketAddress? {
        host.isIPAddress ? try? SocketAddress(ipAddress: host, port: port) : nil
    }
}
