/// The one event that ends a stream the provider cut (or that timed out),
/// in the form the API's streaming clients raise as an error
/// (`../shared/SPEC.md`, "Interrupted streams").
///
///     StreamInterruption.anthropic.event("the connection to the provider was lost")
///     // event: error\ndata: {"type":"error","error":{"type":"api_error","message":"upstream_stream_interrupted: …"}}
public enum StreamInterruption: Sendable, Equatable {
    /// Chat and completions: `data: {"error": {…, "code": "upstream_stream_interrupted"}}`.
    case openAI
    /// The Responses API: an `error` event, which typed-event clients see as
    /// one and the OpenAI SDKs raise as APIError.
    case responses
    /// `event: error` with Anthropic's error body.
    case anthropic
    /// `data: {"error": {"code": 502, "message": …, "status": "UNAVAILABLE"}}`.
    case google

    public func event(_ detail: String) -> String {
        let error = OpenAIError.streamInterrupted(detail)
        switch self {
        case .openAI:
            return error.sseEvent
        case .responses:
            var message = ""
            JSONString.append(error.message, to: &message)
            return "event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_stream_interrupted\",\"message\":\(message),\"param\":null,"
                + "\"error\":{\"type\":\"api_error\",\"code\":\"upstream_stream_interrupted\",\"message\":\(message)}}\n\n"
        case .anthropic:
            var json = "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
            JSONString.append("upstream_stream_interrupted: \(error.message)", to: &json)
            return "event: error\ndata: " + json + "}}\n\n"
        case .google:
            var json = "{\"error\":{\"code\":502,\"message\":"
            JSONString.append("upstream_stream_interrupted: \(error.message)", to: &json)
            return "data: " + json + ",\"status\":\"UNAVAILABLE\"}}\n\n"
        }
    }
}
