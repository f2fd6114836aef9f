import LLMProxyCore
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// swift-otel's OTLP/HTTP tracing backend, run for the gateway: its tracer
/// (which the loops start spans with), its service (batching and export),
/// and the exporter task that ends the loops' finished spans in it.
///
/// swift-otel ends a span with a lock and a task hop into its batch
/// processor; the loops never pay that: they hand batches to `handoff`,
/// and the task here ends them. All of these tasks run on `executor`'s one
/// thread, so a span started on a loop wakes no thread (see
/// `TracingTaskExecutor`). A collector that is down or slow only fills
/// swift-otel's queue, whose losses `OTelDiagnostics` counts.
final class TracingBackend: Sendable {
    let tracer: any Tracer
    let handoff: SpanHandoff
    let executor: TracingTaskExecutor
    private let service: ServiceGroup
    private let tasks = Mutex<(service: Task<Void, Never>?, exporter: Task<Void, Never>?)>((nil, nil))

    init(config: TracingConfig, logger: Logger, onDrop: @escaping @Sendable (Int) -> Void) throws {
        var configuration = OTel.Configuration.default
        configuration.serviceName = config.serviceName
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.enabled = true
        // The loops sample (TraceSampling); every span they start is kept.
        configuration.traces.sampler = .alwaysOn
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = config.tracesURL
        configuration.traces.otlpExporter.headers = config.headers.map { ($0.name, $0.value) }
        configuration.traces.otlpExporter.timeout = .seconds(5)
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(5)
        configuration.traces.batchSpanProcessor.maxQueueSize = 16_384
        // About 1.2 MB an export, within an OpenTelemetry Collector's 20 MiB
        // limit. Measured: batches of 1,024 cost 1.7x the CPU per span of
        // these (swift-otel exports one batch per tick, then on a full queue).
        configuration.traces.batchSpanProcessor.maxExportBatchSize = 4_096
        let diagnostics = Logger(label: "llm-proxy.tracing") { _ in
            var handler = OTelDiagnostics(forward: logger, onDrop: onDrop)
            handler.logLevel = .warning
            return handler
        }
        configuration.diagnosticLogger = .custom(diagnostics)
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        tracer = backend.factory
        service = ServiceGroup(configuration: .init(services: [backend.service], logger: diagnostics))
        let executor = TracingTaskExecutor()
        self.executor = executor
        handoff = SpanHandoff(onSubmit: executor.wake, onDrop: onDrop)
    }

    func start() {
        let service = self.service
        let handoff = self.handoff
        let executor = self.executor
        tasks.withLock { tasks in
            tasks.service = Task(executorPreference: executor) { try? await service.run() }
            tasks.exporter = Task(executorPreference: executor) {
                while let spans = await handoff.next() {
                    for finished in spans {
                        finished.span.attributes = finished.facts.attributes
                        if finished.isError { finished.span.setStatus(SpanStatus(code: .error)) }
                        finished.span.end(at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: finished.endNanosecondsSinceEpoch))
                    }
                }
            }
        }
    }

    /// Ends what the loops handed over, then lets swift-otel export it; each
    /// step is cancelled past `timeout` (a collector that hangs does not
    /// hold the shutdown). The executor's thread ends after both tasks.
    func shutdown(timeout: Duration) async {
        handoff.finish()
        let (service, exporter) = tasks.withLock { $0 }
        let exported = await Self.wait(for: exporter, atMost: timeout)
        await self.service.triggerGracefulShutdown()
        let stopped = await Self.wait(for: service, atMost: timeout)
        // A task cancelled past its time still needs the thread to end on.
        if exported && stopped { await executor.shutdown() }
    }

    /// Whether `task` ended within `timeout` (it is cancelled otherwise).
    private static func wait(for task: Task<Void, Never>?, atMost timeout: Duration) async -> Bool {
        guard let task else { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await task.value
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                task.cancel()
                return false
            }
            let ended = await group.next() ?? false
            group.cancelAll()
            return ended
        }
    }
}
