/// The validated content of config.yaml, before command-line and environment
/// overrides are applied. Every field has its spec default.
public struct GatewayConfig: Sendable {
    public var server = ServerConfig()
    public var verifySSL = true
    public var providerSuffix: String? = nil
    public var watchConfig = true
    public var logLevel: String? = nil
    public var logFormat: LogFormat? = nil
    public var providers: [ProviderConfig] = []
    public var masterKeys: [MasterKey] = []
    public var healthCheck = HealthCheckConfig()
    public var retry = RetryConfig()
    /// Limits (and response affinity) shared by replicas; nil: per process.
    public var sharedState: SharedStateConfig? = nil
    /// nil: no spans (unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; see `TracingConfig.resolve`).
    public var tracing: TracingConfig? = nil

    public init() {}
}

/// `shared_state`: the Redis (or Valkey) that replicas share their limits in.
public struct SharedStateConfig: Sendable, Equatable {
    public var url: RedisURL
    public var keyPrefix = "llm-proxy:"
    public var onUnavailable = OnUnavailable.local
    /// Per call; past it, `onUnavailable` applies.
    public var timeoutMilliseconds = 50

    public enum OnUnavailable: String, Sendable, Equatable {
        /// Each replica's own limits.
        case local
        /// 503 in the request's dialect.
        case deny
        /// Admit.
        case allow
    }

    public init(url: RedisURL) {
        self.url = url
    }
}

public enum LogFormat: String, Sendable {
    case json
    case text
}

public struct ServerConfig: Sendable {
    public var host = "0.0.0.0"
    public var port = 18000
    /// The whole upstream exchange, streaming included.
    public var requestTimeoutSeconds: Double = 600
    public var maxBodyBytes = 10 * 1024 * 1024
    /// A streamed upload's whole body (multipart audio): what a provider
    /// takes (OpenAI's 25 MB file limit, plus the form around it), not what
    /// the gateway holds, which is only what precedes the `model` field and
    /// stays within `maxBodyBytes`.
    public var maxUploadBytes = 26 * 1024 * 1024
    /// 0 means one per CPU the process may run on.
    public var eventLoops = 0
    public var drainTimeoutSeconds: Double = 30
    /// How long a keep-alive client connection may sit idle, and how long a
    /// client may stall while sending a request (nginx's keepalive_timeout and
    /// client_body_timeout play these roles).
    public var clientIdleTimeoutSeconds: Double = 60
    /// How long opening an upstream connection (TCP and TLS) may take before
    /// the attempt counts as a connect error and the next candidate is tried.
    public var connectTimeoutSeconds: Double = 10

    public init() {}
}

public enum ProviderType: String, Sendable, CaseIterable {
    case openai
    case azure
    case gemini
    /// Anthropic's Messages API (and Anthropic-compatible servers).
    case anthropic
    case mock
}

/// A parsed `api_base`: where a provider lives and the path its API starts at.
public struct UpstreamEndpoint: Sendable, Hashable {
    public var useTLS: Bool
    public var host: String
    public var port: Int
    /// Without a trailing slash; empty for the root.
    public var basePath: String

    /// The `Host` header value: the port appears only when it is not the
    /// scheme's default. Computed once, at load: it is sent on every request.
    public private(set) var hostHeader: String = ""

    /// Parses `http(s)://host[:port][/path]`; nil for anything else.
    public init?(parsing text: String) {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            useTLS = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            useTLS = false
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.contains("?") || path.contains("#") || authority.contains("@") { return nil }
        while path.hasSuffix("/") { path.removeLast() }
        basePath = path
        var hostPart = authority
        var portValue = useTLS ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let port = Int(after.dropFirst()) else { return nil }
                portValue = port
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let port = Int(authority[authority.index(after: colon)...]) else { return nil }
            hostPart = authority[authority.startIndex..<colon]
            portValue = port
        }
        guard !hostPart.isEmpty, (1...65535).contains(portValue),
            !hostPart.contains(where: { $0 == " " || $0 == "/" })
        else { return nil }
        host = String(hostPart)
        port = portValue
        let bracketed = hostPart.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        hostHeader = (useTLS && port == 443) || (!useTLS && port == 80) ? bracketed : "\(bracketed):\(port)"
    }
}

public struct ProviderConfig: Sendable {
    public var name: String
    public var type: ProviderType
    /// nil only for `mock`, which answers inside the gateway.
    public var endpoint: UpstreamEndpoint?
    public var apiKey: String
    /// Renewed tokens in place of `apiKey` (which is then empty).
    public var credentials: ProviderCredentials? = nil
    public var weight: Int
    public var headers: [(name: String, value: String)]
    public var apiVersion: String
    public var enabled: Bool
    /// nil: the provider serves every model under its own name.
    public var modelMapping: ModelMapping?

    public static let defaultAzureAPIVersion = "2024-05-01-preview"
    /// An `anthropic` provider without `api_base`.
    public static let defaultAnthropicAPIBase = "https://api.anthropic.com"
}

/// A provider's `model_mapping`: exact keys are looked up first, then the
/// pattern keys in file order.
public struct ModelMapping: Sendable {
    public var exact: [String: String] = [:]
    /// Exact keys in file order, for `/v1/models`.
    public var exactKeys: [String] = []
    public var patterns: [(pattern: ModelPattern, target: String)] = []

    public init() {}

    /// The upstream model for `model`, or nil when no key matches.
    public func target(for model: String) -> String? {
        if let target = exact[model] { return target }
        for (pattern, target) in patterns {
            if let captures = pattern.match(model) {
                return pattern.kind == .regularExpression ? ModelPattern.expand(target: target, captures: captures) : target
            }
        }
        return nil
    }
}

public struct MasterKey: Sendable {
    public var name: String
    public var key: String
    public var rateLimit: RateLimitConfig?
    /// nil: every model is allowed.
    public var allowedModels: [ModelPattern]?
    /// Limits of this key for some models, in file order: the first pattern
    /// that matches the (normalized) requested model applies.
    public var modelLimits: [ModelLimit] = []

    /// The model limit that applies to `model`, if any.
    public func modelLimit(for model: String) -> Int? {
        modelLimits.firstIndex { $0.pattern.matches(model) }
    }

    public func allows(model: String) -> Bool {
        guard let allowedModels else { return true }
        return allowedModels.contains { $0.matches(model) }
    }
}

/// One `model_limits` entry: a pattern (the `allowed_models` rules) and its limits.
public struct ModelLimit: Sendable {
    /// As written, for messages and metric labels (bounded: the config's own text).
    public var source: String
    public var pattern: ModelPattern
    public var limits: RateLimitConfig
}

public struct RateLimitConfig: Sendable, Equatable {
    public var requestsPerSecond: Double
    public var burstSize: Double
    public var tokensPerMinute: Int?
}

public struct HealthCheckConfig: Sendable {
    public var enabled = true
    public var intervalSeconds: Double = 10
    public var timeoutSeconds: Double = 5
    public var path = "/models"
    public var unhealthyThreshold = 3
    public var healthyThreshold = 1

    public init() {}
}

public struct RetryConfig: Sendable {
    public var maxAttempts = 2

    public init() {}
}
