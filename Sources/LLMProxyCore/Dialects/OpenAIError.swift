/// An error answer in OpenAI's shape, so every OpenAI SDK raises the matching
/// exception (`BadRequestError`, `AuthenticationError`, `RateLimitError`, …):
///
///     {"error": {"message": "…", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}
public struct OpenAIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds, for 429 answers.
    public var retryAfter: Int?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var jsonBody: String {
        var json = "{\"error\":{\"message\":"
        JSONString.append(message, to: &json)
        json += ",\"type\":"
        JSONString.append(type, to: &json)
        json += ",\"param\":"
        if let param { JSONString.append(param, to: &json) } else { json += "null" }
        json += ",\"code\":"
        if let code { JSONString.append(code, to: &json) } else { json += "null" }
        json += "}}"
        return json
    }

    /// The error as one SSE event, for a stream that cannot end cleanly.
    public var sseEvent: String { "data: \(jsonBody)\n\n" }

    // MARK: - The spec's error table

    public static func invalidRequest(_ message: String, param: String? = nil) -> OpenAIError {
        OpenAIError(status: 400, message: message, type: "invalid_request_error", param: param)
    }

    public static func invalidAPIKey(presented: Bool) -> OpenAIError {
        OpenAIError(
            status: 401,
            message: presented
                ? "Incorrect API key provided. Use a master key configured in the gateway."
                : "Missing API key. Send it as 'Authorization: Bearer <key>', 'api-key', 'x-api-key', 'x-goog-api-key' or '?key='.",
            type: "authentication_error", code: "invalid_api_key")
    }

    public static func modelNotAllowed(_ model: String) -> OpenAIError {
        OpenAIError(
            status: 403, message: "This key is not allowed to use the model '\(model)'.", type: "permission_error",
            param: "model", code: "model_not_allowed")
    }

    public static func notFound(path: String) -> OpenAIError {
        OpenAIError(status: 404, message: "Unknown path '\(path)'.", type: "invalid_request_error", code: "not_found")
    }

    public static func methodNotAllowed(method: String, path: String) -> OpenAIError {
        OpenAIError(status: 405, message: "Method \(method) is not allowed on '\(path)'.", type: "invalid_request_error", code: "method_not_allowed")
    }

    public static func modelNotFound(_ model: String) -> OpenAIError {
        OpenAIError(
            status: 404, message: "The model '\(model)' does not exist or no provider serves it.",
            type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    /// No provider that could hold it serves the Responses API.
    public static func responseNotFound(_ id: String) -> OpenAIError {
        OpenAIError(
            status: 404, message: "No response with id '\(id)' can be found: no provider serves the Responses API.",
            type: "invalid_request_error", param: nil, code: "not_found")
    }

    public static func requestTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(
            status: 413, message: "The request body is larger than the gateway's limit of \(limit) bytes.",
            type: "invalid_request_error", code: "request_too_large")
    }

    public static func rateLimited(keyName: String, retryAfter: Int, reason: String) -> OpenAIError {
        OpenAIError(
            status: 429, message: "Rate limit reached for key '\(keyName)': \(reason). Retry after \(retryAfter) s.",
            type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: retryAfter)
    }

    /// `shared_state.on_unavailable: deny` while the store cannot decide.
    public static func sharedStateUnavailable() -> OpenAIError {
        OpenAIError(
            status: 503, message: "The gateway's shared rate-limit store is unavailable; try again shortly.", type: "api_error",
            code: "shared_state_unavailable", retryAfter: 1)
    }

    public static func upstreamUnavailable(_ detail: String) -> OpenAIError {
        OpenAIError(status: 502, message: "No provider could be reached: \(detail)", type: "api_error", code: "upstream_unavailable")
    }

    public static func upstreamTimeout(seconds: Double) -> OpenAIError {
        OpenAIError(
            status: 504, message: "The provider did not answer within \(formatSeconds(seconds)) s.", type: "api_error",
            code: "upstream_timeout")
    }

    public static func streamInterrupted(_ detail: String) -> OpenAIError {
        OpenAIError(status: 502, message: "The provider's stream ended early: \(detail)", type: "api_error", code: "upstream_stream_interrupted")
    }

    public static func requestTimeout() -> OpenAIError {
        OpenAIError(status: 408, message: "The client did not send the request in time.", type: "invalid_request_error", code: "request_timeout")
    }

    package static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
