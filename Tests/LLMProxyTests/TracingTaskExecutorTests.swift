import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import LLMProxyServer

/// The tracing tasks' thread (`TracingTaskExecutor`): a task woken from a
/// gateway event loop waits for the next wake; one woken from anywhere
/// else runs at once; the deferral has a bound; shutdown ends the thread.
@Suite struct TracingTaskExecutorTests {
    /// A task on `executor` that waits for a continuation and then says it ran.
    final class Sleeper: Sendable {
        final class State: Sendable {
            let continuation = Mutex<CheckedContinuation<Void, Never>?>(nil)
            let ran = Atomic<Bool>(false)
        }
        let state = State()
        let task: Task<Void, Never>

        init(on executor: TracingTaskExecutor) async throws {
            let state = self.state
            task = Task(executorPreference: executor) {
                await withCheckedContinuation { c in state.continuation.withLock { $0 = c } }
                state.ran.store(true, ordering: .sequentiallyConsistent)
            }
            try await Self.until { state.continuation.withLock { $0 != nil } }
        }

        /// The continuation resumed on `loop` (its thread marked as a gateway loop's), or here.
        func resume(on loop: (any EventLoop)?) async throws {
            let state = self.state
            if let loop {
                try await loop.submit {
                    TracingTaskExecutor.markCurrentThreadAsEventLoop()
                    state.continuation.withLock { $0.take() }?.resume()
                }.get()
            } else {
                state.continuation.withLock { $0.take() }?.resume()
            }
        }

        var hasRun: Bool { state.ran.load(ordering: .sequentiallyConsistent) }

        static func until(_ condition: () -> Bool) async throws {
            for _ in 0..<1_000 where !condition() { try await Task.sleep(for: .milliseconds(5)) }
            #expect(condition())
        }
    }

    @Test func aTaskWokenFromAnEventLoopWaitsForTheNextWake() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = TracingTaskExecutor(maximumDeferral: 60)
        let sleeper = try await Sleeper(on: executor)
        try await sleeper.resume(on: group.next())
        try await Task.sleep(for: .milliseconds(200))
        #expect(!sleeper.hasRun)
        executor.wake()
        try await Sleeper.until { sleeper.hasRun }
        await sleeper.task.value
        await executor.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func aTaskWokenFromElsewhereRunsAtOnce() async throws {
        let executor = TracingTaskExecutor(maximumDeferral: 60)
        let sleeper = try await Sleeper(on: executor)
        try await sleeper.resume(on: nil)
        try await Sleeper.until { sleeper.hasRun }
        await sleeper.task.value
        await executor.shutdown()
    }

    @Test func aDeferredTaskRunsWithinTheDeferral() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = TracingTaskExecutor(maximumDeferral: 0.1)
        let sleeper = try await Sleeper(on: executor)
        try await sleeper.resume(on: group.next())
        try await Sleeper.until { sleeper.hasRun }
        await sleeper.task.value
        await executor.shutdown()
        try await group.shutdownGracefully()
    }
}
