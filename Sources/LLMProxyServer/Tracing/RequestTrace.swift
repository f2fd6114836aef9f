import Tracing

/// A sampled request's spans on its loop: the server span, started when the
/// first attempt needs a parent (or when the request ends without one), and
/// the attempt in progress.
final class RequestTrace {
    /// The client's headers' trace context, when it sent a `traceparent`.
    let parent: InstrumentationContext
    /// When the request's head arrived.
    let startNanosecondsSinceEpoch: UInt64
    var serverSpan: (any Span)?
    /// The W3C trace id, for the access log.
    var traceID: String?
    var attempt: Attempt?
    /// `gen_ai.operation.name` of the request's API ("" when it is no API call).
    var operation = ""
    /// Of the last attempt: its provider's `gen_ai.provider.name`, and the
    /// model its answer named.
    var providerName: String?
    var responseModel: String?
    /// Whether the first body part was read for the model already.
    var responseModelRead = false
    var streamInterrupted = false

    struct Attempt {
        var span: any Span
        var facts: SpanFacts
    }

    /// `{gen_ai.operation.name} {model}` (`chat gpt-4o`); a call that is no
    /// model API is named by its method and route.
    func serverSpanName(model: String, method: String, route: String) -> String {
        operation.isEmpty ? "\(method) \(route)" : "\(operation) \(model)"
    }

    init(parent: InstrumentationContext, startNanosecondsSinceEpoch: UInt64) {
        self.parent = parent
        self.startNanosecondsSinceEpoch = startNanosecondsSinceEpoch
    }
}
