import LLMProxyCore
import NIOSSL
import Synchronization

/// TLS client contexts, built once (loading the system trust roots is slow)
/// and shared by every event loop.
final class TLSContextCache: Sendable {
    private let contexts = Mutex<[Bool: NIOSSLContext]>([:])

    func context(verify: Bool) throws -> NIOSSLContext {
        try contexts.withLock { cache in
            if let context = cache[verify] { return context }
            var configuration = TLSConfiguration.makeClientConfiguration()
            if !verify { configuration.certificateVerification = .none }
            configuration.applicationProtocols = ["http/1.1"]
            let context = try NIOSSLContext(configuration: configuration)
            cache[verify] = context
            return context
        }
    }
}
