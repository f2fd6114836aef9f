/// `tracing:`: where spans go and how many requests get them. The
/// exporter's own settings (timeouts, compression, TLS files) and the
/// standard `OTEL_*` variables are swift-otel's, which reads them too.
public struct TracingConfig: Sendable {
    /// OTLP/HTTP base URL; spans go to `{otlpEndpoint}/v1/traces`.
    public var otlpEndpoint = "http://localhost:4318"
    /// Of requests without a client `traceparent` (a client's sampled flag is honoured).
    public var sampleRatio = 1.0
    public var serviceName = "llm-proxy"
    public var headers: [(name: String, value: String)] = []

    public init() {}

    /// The traces URL, as the OTLP/HTTP spec derives it from a base URL.
    public var tracesURL: String { otlpEndpoint + "/v1/traces" }

    package static func isEndpoint(_ text: String) -> Bool { UpstreamEndpoint(parsing: trimmed(text)) != nil }

    package static func trimmed(_ text: String) -> String {
        var text = text
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// The file's `tracing:` with the standard variables applied the way
    /// OpenTelemetry SDKs apply them: `OTEL_EXPORTER_OTLP_ENDPOINT` turns
    /// tracing on without a `tracing:` block, `OTEL_SERVICE_NAME` names the
    /// service, `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` set the
    /// ratio, `OTEL_SDK_DISABLED=true` and `OTEL_TRACES_EXPORTER=none` turn
    /// it off. Other `OTEL_EXPORTER_OTLP_*` variables are swift-otel's.
    public static func resolve(_ file: TracingConfig?, environment: [String: String]) -> TracingConfig? {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" || environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none" { return nil }
        var config = file
        for name in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            guard let value = environment[name], isEndpoint(value) else { continue }
            if config == nil { config = TracingConfig() }
            // The per-signal variable is the whole URL: kept as the base minus its `/v1/traces`.
            let base = trimmed(value)
            config!.otlpEndpoint = name.contains("TRACES") && base.hasSuffix("/v1/traces") ? String(base.dropLast("/v1/traces".count)) : base
            break
        }
        guard var config else { return nil }
        if let name = environment["OTEL_SERVICE_NAME"], !name.isEmpty { config.serviceName = name }
        switch environment["OTEL_TRACES_SAMPLER"]?.lowercased() {
        case "always_on", "parentbased_always_on": config.sampleRatio = 1
        case "always_off", "parentbased_always_off": config.sampleRatio = 0
        case "traceidratio", "parentbased_traceidratio":
            if let ratio = environment["OTEL_TRACES_SAMPLER_ARG"].flatMap(Double.init), (0...1).contains(ratio) { config.sampleRatio = ratio }
        default: break
        }
        return config
    }
}
