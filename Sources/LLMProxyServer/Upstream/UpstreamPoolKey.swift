import LLMProxyCore
import NIOCore

/// Which connections may be shared: same host, port, TLS and verification.
/// Built once per provider and config (`RuntimeConfig.poolKeys`) with its
/// hash, so finding a host's idle connections hashes no strings; a class, so
/// an exchange holding one retains one reference rather than each string.
final class UpstreamPoolKey: Hashable, Sendable {
    let endpoint: UpstreamEndpoint
    let verifyTLS: Bool
    /// The endpoint's address when its host is an IP literal: connecting to
    /// it skips NIO's resolver and Happy Eyeballs state machine (a lookup,
    /// several timers and allocations per new connection).
    let literalAddress: SocketAddress?
    private let precomputedHash: Int

    init(endpoint: UpstreamEndpoint, verifyTLS: Bool) {
        // The base path does not affect the connection.
        var hostOnly = endpoint
        hostOnly.basePath = ""
        self.endpoint = hostOnly
        self.verifyTLS = verifyTLS
        literalAddress = SocketAddress.ipLiteral(endpoint.host, port: endpoint.port)
        var hasher = Hasher()
        hasher.combine(hostOnly)
        hasher.combine(verifyTLS)
        precomputedHash = hasher.finalize()
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(precomputedHash)
    }

    static func == (lhs: UpstreamPoolKey, rhs: UpstreamPoolKey) -> Bool {
        lhs.precomputedHash == rhs.precomputedHash && lhs.verifyTLS == rhs.verifyTLS && lhs.endpoint == rhs.endpoint
    }
}
