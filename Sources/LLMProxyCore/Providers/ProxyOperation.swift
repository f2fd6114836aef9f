/// What a client asked the gateway to do, independent of the path it used.
public enum ProxyOperation: Sendable, Equatable {
    case chatCompletions
    case completions
    case embeddings
    /// Google's native API, relayed unchanged: `models/{model}:generateContent`.
    case geminiGenerateContent(stream: Bool)

    /// The path under an OpenAI-style base URL.
    package var openAIPath: String {
        switch self {
        case .chatCompletions: return "/chat/completions"
        case .completions: return "/completions"
        case .embeddings: return "/embeddings"
        case .geminiGenerateContent: return ""
        }
    }

    /// The label used in metrics and logs.
    public var endpointLabel: String {
        switch self {
        case .chatCompletions: return "/v1/chat/completions"
        case .completions: return "/v1/completions"
        case .embeddings: return "/v1/embeddings"
        case .geminiGenerateContent(let stream): return stream ? "streamGenerateContent" : "generateContent"
        }
    }

    /// A small number per operation, for keys that must not hash strings.
    package var index: Int {
        switch self {
        case .chatCompletions: return 0
        case .completions: return 1
        case .embeddings: return 2
        case .geminiGenerateContent(let stream): return stream ? 4 : 3
        }
    }

    /// OpenAI-format streams end with `data: [DONE]`; a stream without it was cut.
    package var streamEndsWithDone: Bool {
        if case .geminiGenerateContent = self { return false }
        return true
    }

    /// The model travels in the body, so the body's `model` is replaced.
    package var modelInBody: Bool {
        if case .geminiGenerateContent = self { return false }
        return true
    }
}
