import NIOConcurrencyHelpers
import NIOPosix

/// The one thread that swift-otel's tasks (its tracer's event stream, batch
/// processor and exporter) and the gateway's span exporter task run on.
///
/// Why: swift-otel's `startSpan` yields every span it starts into an
/// `AsyncStream`, and its consumer task wakes for each. On the global
/// executor, each span an event loop started woke a pool thread: a futex
/// wake on the loop and, with the loop's core busy, a switch away from it
/// (2,100 of the 3,100 samples `startSpan` took on the loop, at
/// `sample_ratio` 1.0). Here a job enqueued from a gateway event loop only
/// joins the queue; the thread runs it at its next wake: `wake()` (a loop
/// handing over its finished spans), a job from any other thread (timers,
/// AsyncHTTPClient's completions), or `maximumDeferral` later at the most.
/// The span-start events it defers are no-ops to the batch processor.
///
/// Jobs run one at a time, in order, so the tasks' hops among themselves
/// are queue appends, not thread wake-ups.
final class TracingTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// How long (seconds) a job enqueued from an event loop waits at most.
    private let maximumDeferral: Double

    /// Set on the gateway's event loop threads (`markCurrentThreadAsEventLoop`).
    private static let eventLoopThreads = ThreadSpecificVariable<Marker>()
    private final class Marker: Sendable {}
    private static let marker = Marker()

    /// `true`: the thread should run the queue now. Guards `jobs` and `stopping`.
    private let condition = ConditionLock(value: false)
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private let thread: NIOThreadPool

    init(maximumDeferral: Double = 0.2) {
        self.maximumDeferral = maximumDeferral
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        thread.submit { [self] state in
            guard case .active = state else { return }
            work()
        }
    }

    /// Jobs enqueued from this thread from now on wait for the next wake.
    static func markCurrentThreadAsEventLoop() {
        eventLoopThreads.currentValue = marker
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let deferred = Self.eventLoopThreads.currentValue != nil
        condition.lock()
        jobs.append(job)
        if deferred { condition.unlock() } else { condition.unlock(withValue: true) }
    }

    /// Runs what is queued now (a futex wake only when the thread sleeps).
    func wake() {
        condition.lock()
        condition.unlock(withValue: true)
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Lets the thread finish once its queue is empty. Call it after every
    /// task that runs here has ended: a job enqueued later never runs.
    func shutdown() async {
        condition.lock()
        stopping = true
        condition.unlock(withValue: true)
        try? await thread.shutdownGracefully()
    }

    private func work() {
        var draining = false
        while true {
            if draining || !condition.lock(whenValue: true, timeoutSeconds: maximumDeferral) {
                condition.lock()
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            draining = stopping
            condition.unlock(withValue: false)
            if draining && batch.isEmpty { return }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
