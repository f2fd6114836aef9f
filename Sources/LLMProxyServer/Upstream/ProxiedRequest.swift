import LLMProxyCore
import NIOCore
import NIOHTTP1

/// A request that has been authenticated and resolved, ready to go upstream.
struct ProxiedRequest {
    var api: API
    var head: HTTPRequestHead
    var query: Substring?
    var body: ByteBuffer
    /// Where the body's `model` value sits, for APIs that carry it.
    var modelField: ModelFieldScanner.Field?
    /// The client's model after suffix stripping.
    var model: String
    var route: ModelRoute
    var routeEntry: RouteEntry
    /// False when `route` is a filtered copy of `routeEntry.route` (an API
    /// only some provider types serve), whose candidate indices differ.
    var routeIsEntryRoute: Bool
    var snapshot: RuntimeConfig
    var limiter: KeyRateLimiter?
    /// The limiter of the key's `model_limits` entry for this model, if any.
    var modelLimiter: KeyRateLimiter?
    /// The pattern of the key's `model_limits` entry that matched, if any.
    var modelLimitPattern: String?
    var requestID: String
    /// The response its path names (an API whose model location is `.responseID`).
    var responseID: String? = nil
    /// The response the request names when no candidate is known to hold
    /// it: the shared store, when there is one, is asked first, and then
    /// the candidates in turn (a 404 means "ask the next one", see
    /// `ExchangeStateMachine`).
    var affinityID: String? = nil
    var movesOnAtNotFound: Bool { affinityID != nil }
    /// `modelField` is a multipart form field's raw value, not a JSON string.
    var modelFieldIsMultipart = false
    /// The body is a streamed upload's first part; the rest arrives from
    /// the client while the request is under way, framed like this.
    var upload: UpstreamRequestEncoder.UploadFraming? = nil
    /// Its limits as the shared store keeps them (with `shared_state`), charged there too.
    var sharedLimits: SharedLimitRequest? = nil
}
