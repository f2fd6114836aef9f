/// OpenTelemetry's GenAI semantic conventions, as the gateway's spans use
/// them: the attribute names, the operation of each API and the provider
/// name of each provider type.
public enum GenAIConventions {
    public static let operationName = "gen_ai.operation.name"
    public static let providerName = "gen_ai.provider.name"
    public static let requestModel = "gen_ai.request.model"
    public static let responseModel = "gen_ai.response.model"
    public static let inputTokens = "gen_ai.usage.input_tokens"
    public static let outputTokens = "gen_ai.usage.output_tokens"
    public static let serverAddress = "server.address"
    public static let serverPort = "server.port"
    public static let statusCode = "http.response.status_code"
    public static let requestMethod = "http.request.method"
    public static let route = "http.route"
    public static let errorType = "error.type"
    // The gateway's own, under its namespace.
    public static let keyName = "llm_proxy.key.name"
    public static let requestID = "llm_proxy.request_id"
    public static let provider = "llm_proxy.provider"
    public static let timeToFirstByte = "llm_proxy.time_to_first_byte_seconds"
    public static let streamInterrupted = "llm_proxy.stream.interrupted"
    public static let retries = "llm_proxy.retries"

    /// `gen_ai.operation.name`: the convention's well-known values where one
    /// fits, the API's own name otherwise.
    public static func operation(of api: API) -> String {
        switch api {
        case .chatCompletions, .messages, .responses: return "chat"
        case .completions: return "text_completion"
        case .embeddings: return "embeddings"
        case .geminiGenerateContent, .geminiStreamGenerateContent: return "generate_content"
        case .countTokens: return "count_tokens"
        case .responsesRetrieve: return "retrieve_response"
        case .responsesDelete: return "delete_response"
        case .responsesCancel: return "cancel_response"
        case .responsesInputItems: return "list_input_items"
        case .moderations: return "moderation"
        case .imagesGenerations: return "image_generation"
        case .audioSpeech: return "speech"
        case .audioTranscriptions: return "transcription"
        case .audioTranslations: return "translation"
        }
    }

    /// `gen_ai.provider.name` of a provider (Vertex AI and AI Studio are told
    /// apart by their host).
    public static func providerName(of provider: ProviderConfig) -> String {
        switch provider.type {
        case .openai: return "openai"
        case .azure: return "azure.ai.openai"
        case .anthropic: return "anthropic"
        case .gemini: return provider.endpoint?.host.hasSuffix("aiplatform.googleapis.com") == true ? "gcp.vertex_ai" : "gcp.gemini"
        case .mock: return "llm_proxy.mock"
        }
    }

    /// `error.type` of an answered request: its status code, as the HTTP
    /// conventions have it.
    public static func errorType(status: Int) -> String? { status >= 400 ? String(status) : nil }

    /// `error.type` of a failed attempt: its kind, never the details (which
    /// may name addresses or carry a provider's words).
    package static func errorType(of failure: ExchangeStateMachine.FailureKind) -> String {
        switch failure {
        case .connect: return "connect_error"
        case .noCredential: return "no_credential"
        case .status(let code): return String(code)
        case .connectionLost: return "connection_closed"
        }
    }
}
