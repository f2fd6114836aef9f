import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

/// The access log: rendered per event loop into a buffer, written in
/// batches by a thread of its own, never holding up a request.
@Suite(.serialized) struct AccessLogTests {
    static func record() -> RequestRecord {
        var record = RequestRecord(requestID: "abc123", method: "POST", path: "/v1/chat/completions", start: NIODeadline.uptimeNanoseconds(1_000_000_000))
        record.keyName = "Team \"A\""
        record.model = "gpt-4o"
        record.provider = "openai"
        record.status = 200
        record.firstByte = NIODeadline.uptimeNanoseconds(1_001_250_000)
        record.usage = UsageObserver.Usage(prompt: 2, completion: 3, total: 5)
        record.retries = 1
        return record
    }

    @Test func linesHaveTheFieldsAndShapesOfTheSwiftLogHandlers() throws {
        let end = NIODeadline.uptimeNanoseconds(1_012_500_000)
        var text = AccessLogFormatter(format: .text)
        var buffer = ByteBuffer()
        text.write(Self.record(), end: end, into: &buffer)
        let line = String(buffer: buffer)
        let pattern = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info llm-proxy: (.*) \[LLMProxyServer\] request\n$/
        let fields = try #require(line.wholeMatch(of: pattern)?.output.1, "\(line)")
        #expect(fields == #"completion_tokens=3 duration_ms=12.5 key=Team "A" method=POST model=gpt-4o path=/v1/chat/completions prompt_tokens=2 provider=openai request_id=abc123 retries=1 status=200 total_tokens=5 ttfb_ms=1.25"#)

        var json = AccessLogFormatter(format: .json)
        buffer.clear()
        json.write(Self.record(), end: end, into: &buffer)
        json.write(RequestRecord(requestID: "x", method: "GET", path: "/v1/models", start: end), end: end, into: &buffer)
        let lines = String(buffer: buffer).split(separator: "\n")
        #expect(lines.count == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["msg"] == "request" && object["level"] == "info" && object["logger"] == "llm-proxy")
        #expect(object["key"] == "Team \"A\"" && object["duration_ms"] == "12.5" && object["ttfb_ms"] == "1.25" && object["total_tokens"] == "5")
        #expect(object["ts"]?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(object)")
        let bare = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: String])
        #expect(bare["model"] == nil && bare["key"] == nil && bare["status"] == "0" && bare["duration_ms"] == "0.0")
    }

    /// A line is written into memory reserved for its longest form: values
    /// of thousands of bytes, every control character, quotes and
    /// backslashes fit, and come out as JSON parsers and the text line read them.
    @Test func longAndEscapedValuesFitTheirLine() throws {
        let controls = String(decoding: (0..<32).map { UInt8($0) }, as: UTF8.self)
        let base = Self.record()
        var record = RequestRecord(requestID: base.requestID, method: base.method, path: "/v1/" + String(repeating: "p", count: 5_000), start: base.start)
        record.keyName = String(repeating: controls + "\"\\", count: 100)
        record.model = String(repeating: "модель-🙂", count: 300)
        record.provider = base.provider
        record.status = base.status
        record.firstByte = base.firstByte
        record.usage = base.usage
        record.retries = base.retries
        record.traceID = String(repeating: "\u{7F}\"", count: 700)
        let end = NIODeadline.uptimeNanoseconds(1_012_500_000)
        var buffer = ByteBuffer()
        // Lines follow what the loop's buffer already holds.
        buffer.writeString("earlier line\n")
        var json = AccessLogFormatter(format: .json)
        json.write(record, end: end, into: &buffer)
        let lines = String(buffer: buffer).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[0] == "earlier line" && lines[2].isEmpty)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: String])
        #expect(object["key"] == record.keyName && object["model"] == record.model)
        #expect(object["path"] == record.path && object["trace_id"] == record.traceID && object["status"] == "200")
        // Escaped as the rest of the gateway escapes JSON strings.
        #expect(lines[1].contains(JSONString.quoted(record.keyName!)) && lines[1].contains("\\u001f\\\"\\\\"))

        var text = AccessLogFormatter(format: .text)
        buffer.clear()
        text.write(record, end: end, into: &buffer)
        let line = String(buffer: buffer)
        #expect(line.contains(" key=\(record.keyName!) method=POST model=\(record.model) path=\(record.path) prompt_tokens=2 "))
        #expect(line.hasSuffix(" trace_id=\(record.traceID!) ttfb_ms=1.25 [LLMProxyServer] request\n"))
    }

    /// To a pipe the batch goes in pieces of whole lines (at most PIPE_BUF,
    /// or one longer line alone): what comes out is the batch, unchanged.
    @Test func toAPipeABatchArrivesWhole() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var batch = ByteBuffer()
        var expected = ""
        for index in 0..<300 {
            let line = "line \(index) " + String(repeating: "x", count: index * 7 % 200) + "\n"
            expected += line
            batch.writeString(line)
        }
        let long = String(repeating: "y", count: 9000) + "\n"
        expected += long
        batch.writeString(long)
        // Read concurrently, so the pipe never fills; record each read's size.
        let collected = Mutex<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        let readEnd = fds[0]
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count <= 0 { break }
                collected.withLock { $0 += buffer[..<count] }
            }
            done.signal()
        }
        StandardErrorSink(descriptor: fds[1]).write(batch)
        close(fds[1])
        done.wait()
        #expect(String(decoding: collected.withLock { $0 }, as: UTF8.self) == expected)
    }

    /// A sink that holds its first write until released, as a pipe nobody reads does.
    final class StuckSink: AccessLogSink {
        let released = Mutex(false)
        let written = Mutex(0)
        func write(_ bytes: ByteBuffer) {
            while !released.withLock({ $0 }) { usleep(1000) }
            written.withLock { $0 += String(buffer: bytes).split(separator: "\n").count }
        }
    }

    @Test func linesStayWholeAndCompleteUnderLoadOnSeveralLoops() async throws {
        let upstream = try await MockUpstream()
        let capture = LogCapture()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {event_loops: 4}\n"), logCapture: capture) { gateway in
            try await FailurePathLeakTests.run(1000, concurrency: 32) { _ in
                let status = try await TestClient.chat(port: gateway.port).status
                #expect(status == 200)
            }
        }
        // Stopped: everything was flushed during the drain.
        let entries = capture.entries.filter { $0.message == "request" }
        #expect(!capture.entries.contains { $0.message.hasPrefix("unparsable") }, "a line that does not parse")
        #expect(entries.count == 1000, "\(entries.count) lines")
        #expect(Set(entries.compactMap { $0.metadata["request_id"] }).count == 1000)
        #expect(entries.allSatisfy { $0.metadata["status"] == "200" && $0.metadata["provider"] == "a" })
        await upstream.stop()
    }

    @Test func aStuckSinkDelaysNoResponseAndItsLinesAreDroppedAndCounted() async throws {
        let upstream = try await MockUpstream()
        let sink = StuckSink()
        var config = try ConfigLoader.load(text: providersYAML([("a", upstream.baseURL, 1)]), file: "test.yaml", environment: [:])
        config.server.host = "127.0.0.1"
        config.server.port = 0
        config.server.eventLoops = 2
        let gateway = try Gateway(
            config: RuntimeConfig(config: config, version: 1, sourcePath: "test.yaml"), logger: LogCapture().logger,
            accessLogSink: sink, accessLogFormat: .json, accessLogPendingLimit: 64 * 1024)
        try await gateway.start()
        var slowest = 0.0
        try await FailurePathLeakTests.run(3000, concurrency: 16) { _ in
            let status = try await TestClient.chat(port: gateway.port).status
            #expect(status == 200)
        }
        for _ in 0..<20 {
            let start = Date()
            #expect(try await TestClient.chat(port: gateway.port).status == 200)
            slowest = max(slowest, Date().timeIntervalSince(start))
        }
        #expect(slowest < 2, "a response waited \(slowest) s on the log (the sink never returns)")
        try await Task.sleep(for: .milliseconds(1200))
        let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
        let dropped = metrics.text.split(separator: "\n").first { $0.hasPrefix("llm_proxy_dropped_log_lines_total ") }
        let count = dropped.flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        #expect(count > 0, "\(String(describing: dropped))")
        sink.released.withLock { $0 = true }
        await gateway.shutdown()
        // What was not dropped was written, and the two add up (the drops counted to the end: the
        // /metrics request's own line may have been dropped after it was read).
        let finalDropped = gateway.state.metricsText().split(separator: "\n").first { $0.hasPrefix("llm_proxy_dropped_log_lines_total ") }
            .flatMap { Double($0.split(separator: " ")[1]) } ?? 0
        #expect(Double(sink.written.withLock { $0 }) + finalDropped == 3020 + 1, "written \(sink.written.withLock { $0 }), dropped \(finalDropped)")
        await upstream.stop()
    }

    @Test func sigtermFlushesTheLastLines() async throws {
        let upstream = try await MockUpstream()
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("config.yaml")
        try writeFile(providersYAML([("a", upstream.baseURL, 1)]), to: path)
        let gateway = try await SpawnedGateway(configPath: path.path, directory: directory, environment: ["LOG_LEVEL": "info", "LOG_FORMAT": "json"])
        defer { gateway.stop() }
        for _ in 0..<40 { #expect(try await TestClient.chat(port: gateway.port).status == 200) }
        gateway.signal(SIGTERM)
        #expect(try await gateway.waitForExit(seconds: 10) == 0)
        let lines = gateway.log.split(separator: "\n").filter { $0.contains("\"msg\":\"request\"") }
        // The 40 chats and the readiness probe's /health.
        #expect(lines.filter { $0.contains("/v1/chat/completions") }.count == 40, "\(gateway.log.suffix(2000))")
        for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)") }
        await upstream.stop()
    }
}
