/// The shape errors take for an API, so that API's own SDKs raise the right
/// exception (`../shared/SPEC.md`, "APIs and dialects"). Every error the
/// gateway makes is an `OpenAIError` value (status, type, code, message);
/// a dialect only renders it.
///
///     ErrorDialect.google.body(.invalidAPIKey(presented: false))
///     // {"error":{"code":401,"message":"Missing API key. …","status":"UNAUTHENTICATED"}}
public enum ErrorDialect: Sendable, Equatable {
    /// `{"error": {"message", "type", "param", "code"}}`
    case openAI
    /// `{"type": "error", "error": {"type": "authentication_error", "message"}}`
    case anthropic
    /// `{"error": {"code": 401, "message", "status": "UNAUTHENTICATED"}}`
    case google

    /// The body of an error answer.
    public func body(_ error: OpenAIError) -> String {
        switch self {
        case .openAI:
            return error.jsonBody
        case .anthropic:
            var json = "{\"type\":\"error\",\"error\":{\"type\":"
            JSONString.append(Self.anthropicType(status: error.status), to: &json)
            json += ",\"message\":"
            JSONString.append(error.message, to: &json)
            return json + "}}"
        case .google:
            var json = "{\"error\":{\"code\":\(error.status),\"message\":"
            JSONString.append(error.message, to: &json)
            json += ",\"status\":"
            JSONString.append(Self.googleStatus(status: error.status), to: &json)
            return json + "}}"
        }
    }

    /// Anthropic's error types (docs.anthropic.com, "Errors").
    static func anthropicType(status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 400..<500: return "invalid_request_error"
        default: return "api_error"
        }
    }

    /// Google's canonical status names (google.rpc.Code) for HTTP statuses.
    static func googleStatus(status: Int) -> String {
        switch status {
        case 400, 405, 413: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 408, 504: return "DEADLINE_EXCEEDED"
        case 429: return "RESOURCE_EXHAUSTED"
        case 502, 503: return "UNAVAILABLE"
        default: return status < 500 ? "FAILED_PRECONDITION" : "INTERNAL"
        }
    }
}
