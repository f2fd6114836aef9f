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
    /// A multipart upload's search for its `model` field, until it is found.
    var multipart: MultipartModelScanner? = nil
    /// Where a multipart upload's `model` value sits in `body`, once found.
    var multipartField: ModelFieldScanner.Field? = nil
    /// The body is still arriving: the exchange gets the rest part by part.
    var streamsBody = false
}
