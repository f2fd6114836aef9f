import LLMProxyCore
import NIOCore
import NIOHTTP1

/// A request whose head was admitted, while its body is read.
struct IncomingRequest {
    var head: HTTPRequestHead
    var route: GatewayRoute
    var path: Substring
    var query: Substring?
    var snapshot: RuntimeConfig
    /// The key that authenticated it; nil when the gateway is open.
    var keyIndex: Int?
    var limiter: KeyRateLimiter?
    /// The key's `model_limits` limiters, by entry index.
    var modelLimiters: [KeyRateLimiter]
    var body: ByteBuffer
}
