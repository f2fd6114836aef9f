/// The request one provider type needs: where it goes, which headers carry
/// the credential. Everything else (auth, selection, retries, relaying,
/// metrics) is shared and knows no provider by name.
public struct UpstreamRequestPlan: Sendable, Equatable {
    /// Path and query, as written on the request line.
    public var target: String
    public var headers: [Header]
    /// Whether the body's top-level `model` is replaced with the upstream model.
    public var replacesModel: Bool
    /// Sent only when the client sent no header of that name
    /// (`anthropic-version`: the client's own version wins).
    public var defaultHeaders: [Header] = []

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }
}

/// One provider type's rules. Adding a type means one adapter and its case
/// in `ProviderType`.
public protocol ProviderAdapter: Sendable {
    /// `responseID`: the response an API whose model location is
    /// `.responseID` names (its path carries it).
    func plan(_ api: API, upstreamModel: String, provider: ProviderConfig, clientQuery: Substring?, responseID: String?) -> UpstreamRequestPlan
    /// The health probe and `/v1/models` discovery request.
    func probePlan(path: String, provider: ProviderConfig) -> UpstreamRequestPlan
}

public enum ProviderAdapters {
    public static func adapter(for type: ProviderType) -> any ProviderAdapter {
        switch type {
        case .openai, .mock: return OpenAIAdapter()
        case .azure: return AzureOpenAIAdapter()
        case .gemini: return GeminiAdapter()
        case .anthropic: return AnthropicAdapter()
        }
    }
}

extension ProviderAdapter {
    package func baseHeaders(_ provider: ProviderConfig) -> [UpstreamRequestPlan.Header] {
        provider.headers.map { .init(name: $0.name, value: $0.value) }
    }

    /// The client's query (`?limit=…&after=…` of a listing) as it came,
    /// minus a `key` credential.
    package func queryPart(_ clientQuery: Substring?) -> String {
        GeminiAdapter.queryWithoutKey(clientQuery).map { "?" + $0 } ?? ""
    }
}

/// OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, Ollama, …).
public struct OpenAIAdapter: ProviderAdapter {
    public init() {}

    public func plan(_ api: API, upstreamModel: String, provider: ProviderConfig, clientQuery: Substring?, responseID: String?) -> UpstreamRequestPlan {
        if api.row.model == .responseID {
            return UpstreamRequestPlan(
                target: basePath(provider) + api.row.openAIPath(responseID: responseID) + queryPart(clientQuery), headers: headers(provider),
                replacesModel: false)
        }
        return UpstreamRequestPlan(target: basePath(provider) + (api.row.openAIPath ?? ""), headers: headers(provider), replacesModel: true)
    }

    public func probePlan(path: String, provider: ProviderConfig) -> UpstreamRequestPlan {
        UpstreamRequestPlan(target: basePath(provider) + path, headers: headers(provider), replacesModel: false)
    }

    private func basePath(_ provider: ProviderConfig) -> String { provider.endpoint?.basePath ?? "" }

    private func headers(_ provider: ProviderConfig) -> [UpstreamRequestPlan.Header] {
        var headers = baseHeaders(provider)
        // `api_key: ""` declares a server that takes no key (a local vLLM);
        // with `credentials` the exchange adds the current token.
        if !provider.apiKey.isEmpty { headers.append(.init(name: "Authorization", value: "Bearer \(provider.apiKey)")) }
        return headers
    }
}

/// Azure OpenAI: the mapping target is the deployment name, the key goes in
/// `api-key`, and every call carries `api-version`. Works for classic
/// `*.openai.azure.com` resources and Azure AI Foundry resources alike.
public struct AzureOpenAIAdapter: ProviderAdapter {
    public init() {}

    public func plan(_ api: API, upstreamModel: String, provider: ProviderConfig, clientQuery: Substring?, responseID: String?) -> UpstreamRequestPlan {
        if api == .responses {
            // Azure's v1 API: the deployment name travels as the body's `model`.
            return UpstreamRequestPlan(target: "\(openAIRoot(provider))/v1/responses", headers: headers(provider), replacesModel: true)
        }
        if api.row.model == .responseID {
            // Stored responses live under the same v1 API, with no deployment in the path.
            return UpstreamRequestPlan(
                target: "\(openAIRoot(provider))/v1\(api.row.openAIPath(responseID: responseID))\(queryPart(clientQuery))", headers: headers(provider),
                replacesModel: false)
        }
        let deployment = PercentEncoding.encodePathSegment(upstreamModel)
        let target = "\(openAIRoot(provider))/deployments/\(deployment)\(api.row.openAIPath ?? "")?api-version=\(PercentEncoding.encodeQueryValue(provider.apiVersion))"
        return UpstreamRequestPlan(target: target, headers: headers(provider), replacesModel: true)
    }

    public func probePlan(path: String, provider: ProviderConfig) -> UpstreamRequestPlan {
        let separator = path.contains("?") ? "&" : "?"
        let target = "\(openAIRoot(provider))\(path)\(separator)api-version=\(PercentEncoding.encodeQueryValue(provider.apiVersion))"
        return UpstreamRequestPlan(target: target, headers: headers(provider), replacesModel: false)
    }

    /// `{api_base}/openai`, unless the operator already wrote the `/openai`.
    private func openAIRoot(_ provider: ProviderConfig) -> String {
        let base = provider.endpoint?.basePath ?? ""
        return base.hasSuffix("/openai") ? base : base + "/openai"
    }

    /// With Entra ID `credentials`, the exchange sends `Authorization: Bearer`
    /// in place of `api-key`.
    private func headers(_ provider: ProviderConfig) -> [UpstreamRequestPlan.Header] {
        provider.credentials != nil ? baseHeaders(provider) : baseHeaders(provider) + [.init(name: "api-key", value: provider.apiKey)]
    }
}

/// Google Gemini through its OpenAI-compatible endpoint
/// (`https://generativelanguage.googleapis.com/v1beta/openai` for AI Studio,
/// `https://{region}-aiplatform.googleapis.com/v1/projects/{p}/locations/{region}/endpoints/openapi`
/// for Vertex AI), and Google's native `generateContent` API for the
/// Gemini-native inbound path.
public struct GeminiAdapter: ProviderAdapter {
    public init() {}

    public func plan(_ api: API, upstreamModel: String, provider: ProviderConfig, clientQuery: Substring?, responseID: String?) -> UpstreamRequestPlan {
        let base = provider.endpoint?.basePath ?? ""
        switch api {
        case .geminiGenerateContent, .geminiStreamGenerateContent:
            let nativeBase = base.hasSuffix("/openai") ? String(base.dropLast("/openai".count)) : base
            let action = api == .geminiStreamGenerateContent ? "streamGenerateContent" : "generateContent"
            var target = "\(nativeBase)/models/\(PercentEncoding.encodePathSegment(upstreamModel)):\(action)"
            if let query = Self.queryWithoutKey(clientQuery) { target += "?" + query }
            return UpstreamRequestPlan(target: target, headers: headers(provider), replacesModel: false)
        case .chatCompletions, .completions, .embeddings, .messages, .countTokens, .responses, .moderations, .imagesGenerations, .audioSpeech,
            .responsesRetrieve, .responsesDelete, .responsesCancel, .responsesInputItems, .audioTranscriptions, .audioTranslations:
            return UpstreamRequestPlan(target: base + (api.row.openAIPath ?? ""), headers: headers(provider), replacesModel: true)
        }
    }

    public func probePlan(path: String, provider: ProviderConfig) -> UpstreamRequestPlan {
        UpstreamRequestPlan(target: (provider.endpoint?.basePath ?? "") + path, headers: headers(provider), replacesModel: false)
    }

    private func headers(_ provider: ProviderConfig) -> [UpstreamRequestPlan.Header] {
        var headers = baseHeaders(provider)
        // With `credentials` the exchange adds the current OAuth token.
        guard provider.credentials == nil else { return headers }
        if provider.apiKey.hasPrefix("AQ.") {
            // Vertex AI express-mode keys: an API key only. Vertex reads any
            // bearer as an OAuth token and would refuse the request.
            headers.append(.init(name: "x-goog-api-key", value: provider.apiKey))
            return headers
        }
        headers.append(.init(name: "Authorization", value: "Bearer \(provider.apiKey)"))
        // AI Studio keys (AIza…) are API keys, not OAuth tokens; Google's native
        // API reads them from x-goog-api-key.
        if provider.apiKey.hasPrefix("AIza") { headers.append(.init(name: "x-goog-api-key", value: provider.apiKey)) }
        return headers
    }

    /// The client's query minus its `key` (the client's credential must never
    /// reach a provider).
    package static func queryWithoutKey(_ query: Substring?) -> String? {
        guard let query, !query.isEmpty else { return nil }
        let kept = query.split(separator: "&").filter { !($0 == "key" || $0.hasPrefix("key=")) }
        return kept.isEmpty ? nil : kept.joined(separator: "&")
    }
}

/// Anthropic's Messages API (`https://api.anthropic.com`) and servers that
/// speak it: the key in `x-api-key`, and `anthropic-version: 2023-06-01`
/// unless the client sent its own (its `anthropic-beta` is forwarded as is).
public struct AnthropicAdapter: ProviderAdapter {
    public init() {}

    public static let defaultVersion = "2023-06-01"

    public func plan(_ api: API, upstreamModel: String, provider: ProviderConfig, clientQuery: Substring?, responseID: String?) -> UpstreamRequestPlan {
        let base = provider.endpoint?.basePath ?? ""
        let path: String
        switch api {
        case .messages: path = "/v1/messages"
        case .countTokens: path = "/v1/messages/count_tokens"
        case .chatCompletions, .completions, .embeddings, .geminiGenerateContent, .geminiStreamGenerateContent, .responses, .moderations,
            .imagesGenerations, .audioSpeech, .responsesRetrieve, .responsesDelete, .responsesCancel, .responsesInputItems, .audioTranscriptions,
            .audioTranslations:
            // Not served (the API table says so); an OpenAI-style path keeps the plan total.
            path = api.row.openAIPath ?? ""
        }
        return UpstreamRequestPlan(target: base + path, headers: headers(provider), replacesModel: true, defaultHeaders: defaultHeaders)
    }

    /// `GET {api_base}/v1/models`, Anthropic's listing, unless the operator
    /// set a `health_check.path` of their own.
    public func probePlan(path: String, provider: ProviderConfig) -> UpstreamRequestPlan {
        let probePath = path == HealthCheckConfig().path ? "/v1/models" : path
        var headers = headers(provider)
        headers.append(contentsOf: defaultHeaders)
        return UpstreamRequestPlan(target: (provider.endpoint?.basePath ?? "") + probePath, headers: headers, replacesModel: false)
    }

    private var defaultHeaders: [UpstreamRequestPlan.Header] { [.init(name: "anthropic-version", value: Self.defaultVersion)] }

    private func headers(_ provider: ProviderConfig) -> [UpstreamRequestPlan.Header] {
        baseHeaders(provider) + [.init(name: "x-api-key", value: provider.apiKey)]
    }
}

package enum PercentEncoding {
    package static func encodePathSegment(_ text: String) -> String { encode(text, keeping: "-._~") }
    package static func encodeQueryValue(_ text: String) -> String { encode(text, keeping: "-._~") }

    private static func encode(_ text: String, keeping unreserved: String) -> String {
        var result = ""
        for byte in text.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || unreserved.utf8.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + HexDigits.string(UInt64(byte), width: 2, uppercase: true)
            }
        }
        return result
    }

    /// `plusAsSpace`: a form's `+` (not in a URL's user info, where it is itself).
    package static func decode(_ text: Substring, plusAsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else if plusAsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
