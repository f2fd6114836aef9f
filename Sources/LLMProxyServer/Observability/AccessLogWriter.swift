import Glibc
import LLMProxyCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import Synchronization

/// Where access-log batches end up: standard error (where every other log
/// line goes) in the gateway; a collector in tests.
package protocol AccessLogSink: Sendable {
    /// Whole lines; may block (it runs on the writer's own thread).
    func write(_ bytes: ByteBuffer)
}

/// Standard error. To a pipe or socket, in writes of whole lines of at most
/// `PIPE_BUF` bytes each, which the kernel never interleaves with another
/// writer's (swift-log's lines); to a file, a batch in one write.
package struct StandardErrorSink: AccessLogSink {
    private let pieceBytes: Int
    private let descriptor: Int32

    /// `descriptor`: 2, but for tests.
    package init(descriptor: Int32 = 2) {
        self.descriptor = descriptor
        var status = stat()
        let isFile = fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
        pieceBytes = isFile ? Int.max : Int(PIPE_BUF)
    }

    package func write(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { all in
            var start = 0
            while start < all.count {
                var end = all.count - start > pieceBytes ? start + pieceBytes : all.count
                if end < all.count {
                    // Back to the end of the last whole line in the piece.
                    var cut = end
                    while cut > start && all[cut - 1] != UInt8(ascii: "\n") { cut -= 1 }
                    if cut > start {
                        end = cut
                    } else {
                        // One line longer than PIPE_BUF: written alone.
                        while end < all.count && all[end - 1] != UInt8(ascii: "\n") { end += 1 }
                    }
                }
                var offset = start
                while offset < end {
                    let written = Glibc.write(descriptor, all.baseAddress! + offset, end - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // stderr is gone: nothing else to tell
                    }
                    offset += written
                }
                start = end
            }
        }
    }
}

/// The access log's only writer: event loops hand it whole batches of
/// lines (`AccessLogBuffer`), and one thread of its own writes them in the
/// order they came, so a slow disk or a pipe nobody reads never blocks an
/// event loop and lines of different loops never interleave. When more than
/// `maximumPendingBytes` wait, a new batch is dropped whole and its lines
/// counted in `llm_proxy_dropped_log_lines_total`, rather than stalling requests.
final class AccessLogWriter: Sendable {
    static let maximumPendingBytes = 4 << 20

    private let sink: any AccessLogSink
    private let maximumPendingBytes: Int
    private let pool: NIOThreadPool
    private let pendingBytes = Atomic<Int>(0)
    private let dropped: Counter

    init(sink: any AccessLogSink, dropped: Counter, maximumPendingBytes: Int = AccessLogWriter.maximumPendingBytes) {
        self.sink = sink
        self.maximumPendingBytes = maximumPendingBytes
        self.dropped = dropped
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    func enqueue(_ batch: ByteBuffer, lines: Int) {
        let size = batch.readableBytes
        let (pending, _) = pendingBytes.add(size, ordering: .relaxed)
        guard pending <= maximumPendingBytes else {
            pendingBytes.subtract(size, ordering: .relaxed)
            dropped.increment(by: Int64(lines))
            return
        }
        pool.submit { [self] _ in
            sink.write(batch)
            pendingBytes.subtract(size, ordering: .relaxed)
        }
    }

    var isIdle: Bool { pendingBytes.load(ordering: .relaxed) == 0 }

    /// What was handed over is written (or `timeout` passed), then the thread stops.
    func shutdown(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while !isIdle && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        try? await pool.shutdownGracefully()
    }
}

/// One event loop's access-log lines, rendered as requests end
/// (`AccessLogFormatter`) into one buffer, handed to the writer when it
/// holds `flushBytes` or once a second, and at shutdown.
final class AccessLogBuffer {
    static let flushBytes = 32 * 1024

    private var formatter: AccessLogFormatter
    private let writer: AccessLogWriter
    private var buffer: ByteBuffer
    private var lines = 0
    private var timer: RepeatedTask?

    init(format: LogFormat, writer: AccessLogWriter, eventLoop: any EventLoop) {
        formatter = AccessLogFormatter(format: format)
        self.writer = writer
        buffer = ByteBufferAllocator().buffer(capacity: Self.flushBytes + 1024)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        timer = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in bound.value.flush() }
    }

    func append(_ record: RequestRecord, end: NIODeadline) {
        formatter.write(record, end: end, into: &buffer)
        lines += 1
        if buffer.readableBytes >= Self.flushBytes { flush() }
    }

    func flush() {
        guard lines > 0 else { return }
        writer.enqueue(buffer, lines: lines)
        buffer = ByteBufferAllocator().buffer(capacity: Self.flushBytes + 1024)
        lines = 0
    }

    func stop() {
        flush()
        timer?.cancel()
        timer = nil
    }
}
