import NIOHTTP1

/// The APIs the gateway serves, one case per row of the spec's table
/// ("APIs and dialects"). What a row says (its paths, where its model is
/// named, which provider types serve it, how its stream ends, its error
/// dialect) is data in `API.table`; the client handler and the exchange read
/// the row and never switch on the case.
///
/// Adding an API: a case here, its row in `API.table`, and its outbound
/// path in each provider adapter that serves it (the compiler asks each
/// adapter's `switch`); a body the mock answers in `MockProvider`.
///
///     API.chatCompletions.row.endpointLabel   // "/v1/chat/completions"
public enum API: Int, Sendable, CaseIterable {
    case chatCompletions
    case completions
    case embeddings
    /// Google's native API, relayed unchanged: `models/{model}:generateContent`.
    case geminiGenerateContent
    case geminiStreamGenerateContent
    /// Anthropic's Messages API: `POST /v1/messages`.
    case messages
    /// `POST /v1/messages/count_tokens`.
    case countTokens
    /// OpenAI's Responses API: `POST /v1/responses`.
    case responses
    /// `GET /v1/responses/{id}`, `DELETE …`, `POST …/cancel`,
    /// `GET …/input_items`: calls that name an earlier response, sent to the
    /// provider that created it (see `ResponseAffinity`).
    case responsesRetrieve
    case responsesDelete
    case responsesCancel
    case responsesInputItems
    case moderations
    case imagesGenerations
    case audioSpeech
    /// Multipart uploads: `POST /v1/audio/transcriptions`, `/translations`.
    case audioTranscriptions
    case audioTranslations

    public var row: APIRow { API.table[rawValue] }

    /// The rows, in the order of the cases (a request path is matched
    /// against them in this order, so the busiest API comes first).
    public static let table: [APIRow] = [
        APIRow(
            endpointLabel: "/v1/chat/completions",
            inbound: [.exact("/v1/chat/completions"), .exact("/chat/completions"), .azureDeployment(operation: "/chat/completions")],
            model: .bodyField, providerTypes: openAIStyle, openAIPath: "/chat/completions", streamCompletion: .doneSentinel, dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/completions",
            inbound: [.exact("/v1/completions"), .exact("/completions"), .azureDeployment(operation: "/completions")],
            model: .bodyField, providerTypes: openAIStyle, openAIPath: "/completions", streamCompletion: .doneSentinel, dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/embeddings",
            inbound: [.exact("/v1/embeddings"), .exact("/embeddings"), .azureDeployment(operation: "/embeddings")],
            model: .bodyField, providerTypes: openAIStyle, openAIPath: "/embeddings", streamCompletion: .doneSentinel, dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "generateContent", inbound: [.googleModelAction("generateContent")],
            model: .path, providerTypes: [.gemini], openAIPath: nil, streamCompletion: .finishReason, dialect: .google, interruption: .google),
        APIRow(
            endpointLabel: "streamGenerateContent", inbound: [.googleModelAction("streamGenerateContent")],
            model: .path, providerTypes: [.gemini], openAIPath: nil, streamCompletion: .finishReason, dialect: .google, interruption: .google),
        APIRow(
            endpointLabel: "/v1/messages", inbound: [.exact("/v1/messages")],
            model: .bodyField, providerTypes: [.anthropic, .mock], openAIPath: nil, streamCompletion: .messageStop, dialect: .anthropic, interruption: .anthropic),
        APIRow(
            endpointLabel: "/v1/messages/count_tokens", inbound: [.exact("/v1/messages/count_tokens")],
            model: .bodyField, providerTypes: [.anthropic, .mock], openAIPath: nil, streamCompletion: .messageStop, dialect: .anthropic, interruption: .anthropic),
        APIRow(
            endpointLabel: "/v1/responses", inbound: [.exact("/v1/responses"), .exact("/responses")],
            model: .bodyField, providerTypes: responsesProviders, openAIPath: "/responses", streamCompletion: .responseTerminal,
            dialect: .openAI, interruption: .responses, affinity: .creates),
        APIRow(
            endpointLabel: "/v1/responses/{id}", method: .GET, inbound: [.responseResource(suffix: "")],
            model: .responseID, providerTypes: responsesProviders, openAIPath: "/responses/{id}", streamCompletion: .responseTerminal,
            dialect: .openAI, interruption: .responses, affinity: .names),
        APIRow(
            endpointLabel: "DELETE /v1/responses/{id}", method: .DELETE, inbound: [.responseResource(suffix: "")],
            model: .responseID, providerTypes: responsesProviders, openAIPath: "/responses/{id}", streamCompletion: .responseTerminal,
            dialect: .openAI, interruption: .responses, affinity: .deletes),
        APIRow(
            endpointLabel: "/v1/responses/{id}/cancel", inbound: [.responseResource(suffix: "/cancel")],
            model: .responseID, providerTypes: responsesProviders, openAIPath: "/responses/{id}/cancel", streamCompletion: .responseTerminal,
            dialect: .openAI, interruption: .responses, affinity: .names),
        APIRow(
            endpointLabel: "/v1/responses/{id}/input_items", method: .GET, inbound: [.responseResource(suffix: "/input_items")],
            model: .responseID, providerTypes: responsesProviders, openAIPath: "/responses/{id}/input_items", streamCompletion: .responseTerminal,
            dialect: .openAI, interruption: .responses, affinity: .names),
        APIRow(
            endpointLabel: "/v1/moderations", inbound: [.exact("/v1/moderations"), .exact("/moderations"), .azureDeployment(operation: "/moderations")],
            model: .bodyField, providerTypes: [.openai, .azure], openAIPath: "/moderations", streamCompletion: .doneSentinel,
            dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/images/generations",
            inbound: [.exact("/v1/images/generations"), .exact("/images/generations"), .azureDeployment(operation: "/images/generations")],
            model: .bodyField, providerTypes: [.openai, .azure], openAIPath: "/images/generations", streamCompletion: .doneSentinel,
            dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/audio/speech", inbound: [.exact("/v1/audio/speech"), .exact("/audio/speech"), .azureDeployment(operation: "/audio/speech")],
            model: .bodyField, providerTypes: [.openai, .azure], openAIPath: "/audio/speech", streamCompletion: .doneSentinel,
            dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/audio/transcriptions",
            inbound: [.exact("/v1/audio/transcriptions"), .exact("/audio/transcriptions"), .azureDeployment(operation: "/audio/transcriptions")],
            model: .multipartField, providerTypes: [.openai, .azure], openAIPath: "/audio/transcriptions", streamCompletion: .doneSentinel,
            dialect: .openAI, interruption: .openAI),
        APIRow(
            endpointLabel: "/v1/audio/translations",
            inbound: [.exact("/v1/audio/translations"), .exact("/audio/translations"), .azureDeployment(operation: "/audio/translations")],
            model: .multipartField, providerTypes: [.openai, .azure], openAIPath: "/audio/translations", streamCompletion: .doneSentinel,
            dialect: .openAI, interruption: .openAI),
    ]

    /// The provider types that speak OpenAI's API (Gemini through its
    /// OpenAI-compatible endpoint; the mock answers it).
    private static let openAIStyle: ProviderTypeSet = [.openai, .azure, .gemini, .mock]
    private static let responsesProviders: ProviderTypeSet = [.openai, .azure, .mock]
}

/// One row of the API table. A class, so reading a request's row retains
/// one reference rather than copying each of its fields.
public final class APIRow: Sendable {
    /// The `endpoint` label of the request metrics: one per API, never a raw path.
    public let endpointLabel: String
    /// The request method of its inbound paths (another on them: 405).
    public let method: HTTPMethod
    /// The request paths that reach it.
    public let inbound: [InboundPath]
    /// Where a request names its model.
    public let model: ModelLocation
    /// The provider types that serve it.
    public let providerTypes: ProviderTypeSet
    /// Its path under an OpenAI-style base URL (openai, azure deployments,
    /// Gemini's OpenAI-compatible endpoint, the mock); nil when it has none.
    public let openAIPath: String?
    /// How a relayed stream shows it is complete.
    public let streamCompletion: StreamCompletion
    /// The shape of its errors.
    public let dialect: ErrorDialect
    /// The event that ends one of its streams the provider cut.
    public let interruption: StreamInterruption
    /// How it takes part in response affinity.
    public let affinity: ResponseAffinityUse

    init(
        endpointLabel: String, method: HTTPMethod = .POST, inbound: [InboundPath], model: ModelLocation, providerTypes: ProviderTypeSet,
        openAIPath: String?, streamCompletion: StreamCompletion, dialect: ErrorDialect, interruption: StreamInterruption,
        affinity: ResponseAffinityUse = .none
    ) {
        self.endpointLabel = endpointLabel
        self.method = method
        self.inbound = inbound
        self.model = model
        self.providerTypes = providerTypes
        self.openAIPath = openAIPath
        self.streamCompletion = streamCompletion
        self.dialect = dialect
        self.interruption = interruption
        self.affinity = affinity
    }

    /// Whether a provider of `type` can serve this API.
    public func isServed(by type: ProviderType) -> Bool {
        providerTypes.contains(type)
    }

    /// `openAIPath` with a response id (percent-encoded) in its `{id}`.
    public func openAIPath(responseID: String?) -> String {
        guard let path = openAIPath else { return "" }
        guard let responseID, let range = path.firstRange(of: "{id}") else { return path }
        return path[..<range.lowerBound] + PercentEncoding.encodePathSegment(responseID) + path[range.upperBound...]
    }
}

/// How an API takes part in response affinity (the spec's "APIs and
/// dialects"): which calls name an earlier response, and which answers say
/// which provider holds one.
public enum ResponseAffinityUse: Sendable, Equatable {
    case none
    /// Creates a response (its answer's id is remembered) and may name an
    /// earlier one in the body's `previous_response_id`.
    case creates
    /// Names a response in its path; a success confirms where it lives.
    case names
    /// Names a response in its path; a success means it is gone.
    case deletes
}

/// A request path of an API.
public enum InboundPath: Sendable, Equatable {
    case exact(String)
    /// `/openai/deployments/{model}{operation}`: the Azure OpenAI SDKs' paths.
    case azureDeployment(operation: String)
    /// `/v1beta/models/{model}:{action}` (or `/v1/models/…`): Google's SDKs' paths.
    case googleModelAction(String)
    /// `/v1/responses/{id}{suffix}` (or `/responses/…`): a stored response.
    case responseResource(suffix: String)
}

/// Where a request names its model.
public enum ModelLocation: Sendable, Equatable {
    /// The body's top-level `model`, which the gateway replaces with the upstream model.
    case bodyField
    /// The request path (or, for Azure-style paths of a body-field API, the
    /// path wins and the body's `model`, if any, is still replaced).
    case path
    /// Nowhere: the request names a response id in its path, and goes where
    /// that response was created.
    case responseID
    /// The `model` field of a `multipart/form-data` body, replaced there;
    /// the rest of the body (the file) streams to the provider as it arrives.
    case multipartField
}

/// How a relayed stream shows that it is complete; a stream that ends
/// without it was cut and gets the dialect's interruption event.
public enum StreamCompletion: Sendable, Equatable {
    /// OpenAI's `data: [DONE]` as the last event.
    case doneSentinel
    /// Google's: a chunk with a `finishReason`.
    case finishReason
    /// Anthropic's: a `message_stop` event (or an `error` event, which ends
    /// the stream as the provider meant it to).
    case messageStop
    /// The Responses API's: a `response.completed`, `response.incomplete`,
    /// `response.failed` or `error` event.
    case responseTerminal
}

/// A set of provider types as bits: asked for every candidate of every
/// request, where a `Set` would hash each time.
public struct ProviderTypeSet: Sendable, Equatable, ExpressibleByArrayLiteral {
    private let bits: UInt16

    public init(arrayLiteral types: ProviderType...) {
        bits = types.reduce(0) { $0 | Self.bit($1) }
    }

    public func contains(_ type: ProviderType) -> Bool { bits & Self.bit(type) != 0 }

    private static func bit(_ type: ProviderType) -> UInt16 {
        switch type {
        case .openai: return 1 << 0
        case .azure: return 1 << 1
        case .gemini: return 1 << 2
        case .anthropic: return 1 << 3
        case .mock: return 1 << 4
        }
    }
}
