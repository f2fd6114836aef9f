import Synchronization
import Tracing

/// Spans finished on the event loops, on their way to swift-otel: a loop
/// hands over its batch under one lock (about once a second, or per 256
/// spans), and the exporter task ends them in the SDK off the loops, where
/// its per-span lock and task hop cost the request path nothing.
final class SpanHandoff: Sendable {
    /// A finished span's last words: set and ended by the exporter task.
    struct Finished: Sendable {
        var span: any Span
        var facts: SpanFacts
        var isError: Bool
        var endNanosecondsSinceEpoch: UInt64
    }

    /// Spans waiting for the exporter task beyond this are dropped (and counted).
    static let maximumPending = 16_384

    private let state = Mutex<(pending: [Finished], waiter: CheckedContinuation<Void, Never>?, finished: Bool)>(([], nil, false))
    private let onSubmit: @Sendable () -> Void
    private let onDrop: @Sendable (Int) -> Void

    /// `onSubmit` runs after each batch a loop hands over: the exporter
    /// task's thread defers what a loop wakes (`TracingTaskExecutor`).
    init(onSubmit: @escaping @Sendable () -> Void, onDrop: @escaping @Sendable (Int) -> Void) {
        self.onSubmit = onSubmit
        self.onDrop = onDrop
    }

    /// From a loop: its batch, or what of it fits.
    func submit(_ batch: [Finished]) {
        guard !batch.isEmpty else { return }
        let (waiter, dropped): (CheckedContinuation<Void, Never>?, Int) = state.withLock { state in
            guard !state.finished else { return (nil, batch.count) }
            let room = Self.maximumPending - state.pending.count
            state.pending += batch.prefix(max(0, room))
            defer { state.waiter = nil }
            return (state.waiter, max(0, batch.count - max(0, room)))
        }
        if dropped > 0 { onDrop(dropped) }
        waiter?.resume()
        onSubmit()
    }

    /// For the exporter task: the next spans, or nil once `finish` was called
    /// and nothing is left.
    func next() async -> [Finished]? {
        while true {
            let taken: [Finished]?? = state.withLock { state in
                if !state.pending.isEmpty {
                    defer { state.pending = [] }
                    return .some(state.pending)
                }
                return state.finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.pending.isEmpty || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// No more spans will come; `next` drains what is left, then returns nil.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
