import Logging
import Synchronization

/// swift-otel's diagnostic logger: its words go to the gateway's log, and
/// the spans it sheds are counted in `llm_proxy_dropped_spans_total`. The
/// SDK says how many only in these log events (a failed export names its
/// `batch_size`; a full queue its `dropped_count`), so they are read here.
struct OTelDiagnostics: LogHandler {
    let forward: Logger
    let onDrop: @Sendable (Int) -> Void
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The SDK's messages for spans that will never be exported.
    static let failedExport = "Failed to export batch."
    static let queueFull = "Spans were dropped this iteration because queue was full"

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let message = "\(event.message)"
        if message == Self.failedExport, let size = all["batch_size"].flatMap({ Int("\($0)") }) {
            onDrop(size)
        } else if message == Self.queueFull, let count = all["dropped_count"].flatMap({ Int("\($0)") }) {
            onDrop(count)
        }
        guard event.level >= .warning else { return }
        var forwarded = all
        forwarded["component"] = forwarded["component"] ?? "swift-otel"
        if let error = event.error { forwarded["error"] = "\(error)" }
        forward.log(level: event.level, "tracing: \(message)", metadata: forwarded)
    }
}
