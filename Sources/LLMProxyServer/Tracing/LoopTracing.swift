import LLMProxyCore
import NIOCore
import NIOHTTP1
import Tracing

/// One event loop's part of tracing: which requests are sampled, their
/// spans started with swift-otel's tracer, and the finished ones held in a
/// loop-local batch that goes to the exporter task (`SpanHandoff`) once a
/// second or per 256 spans. Nothing here waits, takes a lock per span or
/// hops threads; a request that is not sampled costs one random draw.
final class LoopTracing {
    let tracer: any Tracer
    private var sampling: TraceSampling
    private let handoff: SpanHandoff
    private let eventLoop: any EventLoop
    private var batch: [SpanHandoff.Finished] = []
    private var flushScheduled = false
    /// Draws for sampling, from a loop-local generator seeded once.
    private var drawState: UInt64

    static let batchLimit = 256
    static let flushInterval = TimeAmount.seconds(1)

    init(tracer: any Tracer, sampleRatio: Double, handoff: SpanHandoff, eventLoop: any EventLoop) {
        self.tracer = tracer
        sampling = TraceSampling(ratio: sampleRatio)
        self.handoff = handoff
        self.eventLoop = eventLoop
        var seed = SystemRandomNumberGenerator()
        drawState = seed.next() | 1
        // Made on the loop (`LoopContext`): the tracing tasks this loop wakes
        // by starting spans wait for their thread's next wake.
        eventLoop.assertInEventLoop()
        TracingTaskExecutor.markCurrentThreadAsEventLoop()
    }

    func updateSampleRatio(_ ratio: Double) { sampling = TraceSampling(ratio: ratio) }

    /// A new request's trace, or nil when it is not sampled.
    func begin(traceparent: String?, headers: HTTPHeaders) -> RequestTrace? {
        // xorshift64*: a fair draw, no system call.
        drawState ^= drawState >> 12
        drawState ^= drawState << 25
        drawState ^= drawState >> 27
        guard sampling.isSampled(traceparent: traceparent.map { Substring($0) }, draw: drawState &* 0x2545_F491_4F6C_DD1D) else { return nil }
        var parent = InstrumentationContext.topLevel
        if traceparent != nil { tracer.extract(headers, into: &parent, using: RequestHeadersExtractor()) }
        return RequestTrace(parent: parent, startNanosecondsSinceEpoch: DefaultTracerClock.now.nanosecondsSinceEpoch)
    }

    /// The server span of `trace`, started at its request's arrival.
    func serverSpan(of trace: RequestTrace, name: String) -> any Span {
        if let span = trace.serverSpan { return span }
        let span = tracer.startSpan(
            name, context: trace.parent, ofKind: .server,
            at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: trace.startNanosecondsSinceEpoch))
        trace.serverSpan = span
        return span
    }

    /// The trace id of a `traceparent` (`00-{trace id}-{span id}-{flags}`).
    private static func traceID(in traceparent: String?) -> String? {
        guard let traceparent, traceparent.utf8.count >= 35 else { return nil }
        return String(traceparent.dropFirst(3).prefix(32))
    }

    /// `span`'s W3C `traceparent`, as swift-otel's propagator writes it (its
    /// span context is not public).
    private func traceparent(of span: any Span) -> String? {
        var headers: [(name: String, value: String)] = []
        tracer.inject(span.context, into: &headers, using: TraceHeadersInjector())
        return headers.first { $0.name == "traceparent" }?.value
    }

    /// An attempt's client span, a child of the server span, and the
    /// `traceparent` that goes to the provider with it.
    func startAttempt(of trace: RequestTrace, serverSpanName: String, name: String, facts: SpanFacts) -> String? {
        let parent = serverSpan(of: trace, name: serverSpanName)
        if let previous = trace.attempt { finish(previous, error: "abandoned") }
        let span = tracer.startSpan(name, context: parent.context, ofKind: .client)
        trace.attempt = RequestTrace.Attempt(span: span, facts: facts)
        let traceparent = traceparent(of: span)
        // The attempt's trace is its server span's: one propagator call, not two.
        if trace.traceID == nil { trace.traceID = Self.traceID(in: traceparent) }
        return traceparent
    }

    /// The attempt in progress ended: `error` says how it failed, if it did.
    func endAttempt(of trace: RequestTrace, error: String?) {
        guard let attempt = trace.attempt else { return }
        trace.attempt = nil
        finish(attempt, error: error)
    }

    private func finish(_ attempt: RequestTrace.Attempt, error: String?) {
        var facts = attempt.facts
        facts.errorType = error ?? facts.statusCode.flatMap(GenAIConventions.errorType(status:))
        append(.init(span: attempt.span, facts: facts, isError: facts.errorType != nil, endNanosecondsSinceEpoch: DefaultTracerClock.now.nanosecondsSinceEpoch))
    }

    /// The request is over: its server span ends with `facts`.
    func endRequest(_ trace: RequestTrace, name: String, facts: SpanFacts, isError: Bool) {
        endAttempt(of: trace, error: "abandoned")
        let span = serverSpan(of: trace, name: name)
        // No attempt gave the trace id: the server span's own `traceparent` does.
        if trace.traceID == nil { trace.traceID = Self.traceID(in: traceparent(of: span)) }
        append(.init(span: span, facts: facts, isError: isError, endNanosecondsSinceEpoch: DefaultTracerClock.now.nanosecondsSinceEpoch))
    }

    private func append(_ finished: SpanHandoff.Finished) {
        batch.append(finished)
        if batch.count >= Self.batchLimit {
            flush()
        } else if !flushScheduled {
            flushScheduled = true
            eventLoop.assumeIsolated().scheduleTask(in: Self.flushInterval) { [self] in
                flushScheduled = false
                flush()
            }
        }
    }

    /// Hands the batch to the exporter task now (also at shutdown).
    func flush() {
        guard !batch.isEmpty else { return }
        let spans = batch
        batch = []
        batch.reserveCapacity(Self.batchLimit)
        handoff.submit(spans)
    }
}
