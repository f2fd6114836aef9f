#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Renders one request's access-log line straight into a buffer, in the
/// fields and shapes the swift-log handlers printed (`LogSetup`): text as
/// `StreamLogHandler` writes it (`2026-12-01T23:14:12+0000 info llm-proxy:
/// key=value … [LLMProxyServer] request`, keys in alphabetical order), JSON
/// as `JSONLogHandler` does (`{"ts":…,"level":"info","logger":"llm-proxy",
/// "msg":"request",…}`, every value a string). The fields come in one fixed
/// order, with no dictionary, no `String` per field and no sort per line; the
/// timestamp's date part is made once a second.
///
/// Never a key, a prompt or a completion: the record holds none of them.
package struct AccessLogFormatter {
    package let format: LogFormat
    private let label: String
    private var second = -1
    /// The timestamp up to its seconds (JSON: then `.`), for `second`.
    private var stamp: [UInt8] = []

    package init(format: LogFormat, label: String = "llm-proxy") {
        self.format = format
        self.label = label
    }

    package mutating func write(_ record: RequestRecord, end: NIODeadline, into buffer: inout ByteBuffer) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec != second { makeStamp(seconds: now.tv_sec) }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.bound(record, label: label, stamp: stamp, json: format == .json)) { memory in
            var line = ByteCursor(memory)
            switch format {
            case .text: writeText(record, end: end, into: &line)
            case .json: writeJSON(record, end: end, milliseconds: milliseconds, into: &line)
            }
            return line.count
        }
    }

    // MARK: - Text

    private func writeText(_ record: RequestRecord, end: NIODeadline, into line: inout ByteCursor) {
        line.write(stamp)
        line.write(" info ")
        line.write(label)
        line.write(":")
        Self.fields(record, end: end, json: false, into: &line)
        line.write(" [LLMProxyServer] request\n")
    }

    // MARK: - JSON

    private func writeJSON(_ record: RequestRecord, end: NIODeadline, milliseconds: Int, into line: inout ByteCursor) {
        line.write("{\"ts\":\"")
        line.write(stamp)
        line.write(byte: UInt8(ascii: "0") + UInt8(milliseconds / 100))
        line.write(byte: UInt8(ascii: "0") + UInt8(milliseconds / 10 % 10))
        line.write(byte: UInt8(ascii: "0") + UInt8(milliseconds % 10))
        line.write("Z\",\"level\":\"info\",\"logger\":")
        line.writeJSONString(label)
        line.write(",\"msg\":\"request\"")
        Self.fields(record, end: end, json: true, into: &line)
        line.write("}\n")
    }

    /// The most bytes a line of `record` can take: the fixed parts (field
    /// names, separators, integers of at most 20 digits; under 560 bytes in
    /// either format) within 640, the timestamp, and each string at its
    /// longest (JSON: every byte escaped).
    private static func bound(_ record: RequestRecord, label: String, stamp: [UInt8], json: Bool) -> Int {
        func string(_ value: String?) -> Int {
            guard let value else { return 0 }
            return json ? ByteCursor.jsonStringBound(utf8Count: value.utf8.count) : value.utf8.count
        }
        return 640 + stamp.count + string(label) + string(record.keyName) + string(record.method) + string(record.model)
            + string(record.path) + string(record.provider) + string(record.requestID) + string(record.traceID)
    }

    // MARK: - The fields, in alphabetical order (as the swift-log handlers sorted them)

    /// Each field's name is written with its separators in one piece, in the
    /// line's format: ` name=` for text, `,"name":` for JSON (whose values are
    /// all strings, as `JSONLogHandler` wrote them).
    private static func fields(_ record: RequestRecord, end: NIODeadline, json: Bool, into line: inout ByteCursor) {
        func text(_ text: StaticString, _ jsonName: StaticString, _ value: String) {
            if json {
                line.write(jsonName)
                line.writeJSONString(value)
            } else {
                line.write(text)
                line.write(value)
            }
        }
        func integer(_ text: StaticString, _ jsonName: StaticString, _ value: Int) {
            line.write(json ? jsonName : text)
            if json { line.write(byte: UInt8(ascii: "\"")) }
            line.writeDecimal(max(0, value))
            if json { line.write(byte: UInt8(ascii: "\"")) }
        }
        func milliseconds(_ text: StaticString, _ jsonName: StaticString, _ value: TimeAmount) {
            line.write(json ? jsonName : text)
            if json { line.write(byte: UInt8(ascii: "\"")) }
            line.writeMilliseconds(value)
            if json { line.write(byte: UInt8(ascii: "\"")) }
        }
        if let usage = record.usage { integer(" completion_tokens=", ",\"completion_tokens\":", usage.completion) }
        milliseconds(" duration_ms=", ",\"duration_ms\":", end - record.start)
        if let keyName = record.keyName { text(" key=", ",\"key\":", keyName) }
        text(" method=", ",\"method\":", record.method)
        if !record.model.isEmpty { text(" model=", ",\"model\":", record.model) }
        text(" path=", ",\"path\":", record.path)
        if let usage = record.usage { integer(" prompt_tokens=", ",\"prompt_tokens\":", usage.prompt) }
        if !record.provider.isEmpty { text(" provider=", ",\"provider\":", record.provider) }
        text(" request_id=", ",\"request_id\":", record.requestID)
        if record.retries > 0 { integer(" retries=", ",\"retries\":", record.retries) }
        integer(" status=", ",\"status\":", record.status)
        if let usage = record.usage { integer(" total_tokens=", ",\"total_tokens\":", usage.total) }
        // A traced request's trace, to find it in the tracing backend.
        if let traceID = record.traceID { text(" trace_id=", ",\"trace_id\":", traceID) }
        if let firstByte = record.firstByte { milliseconds(" ttfb_ms=", ",\"ttfb_ms\":", firstByte - record.start) }
    }

    // MARK: - Timestamps

    private mutating func makeStamp(seconds: Int) {
        second = seconds
        var time = seconds
        var parts = tm()
        var text: String
        switch format {
        case .text:
            // StreamLogHandler's: local time with its offset.
            localtime_r(&time, &parts)
            let offset = parts.tm_gmtoff / 60
            let sign = offset < 0 ? "-" : "+"
            text = Self.date(parts) + sign + Self.two(abs(offset) / 60) + Self.two(abs(offset) % 60)
        case .json:
            gmtime_r(&time, &parts)
            text = Self.date(parts) + "."
        }
        stamp = Array(text.utf8)
    }

    private static func date(_ parts: tm) -> String {
        "\(parts.tm_year + 1900)-\(two(Int(parts.tm_mon) + 1))-\(two(Int(parts.tm_mday)))T\(two(Int(parts.tm_hour))):\(two(Int(parts.tm_min))):\(two(Int(parts.tm_sec)))"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}


extension ByteCursor {
    /// Milliseconds as the swift-log lines printed them (a `Double` rounded
    /// to two decimals: `12.0`, `0.84`, `1.5`).
    fileprivate mutating func writeMilliseconds(_ amount: TimeAmount) {
        let hundredths = max(0, Int((Double(amount.nanoseconds) / 1e4).rounded()))
        writeDecimal(hundredths / 100)
        write(byte: UInt8(ascii: "."))
        let fraction = hundredths % 100
        write(byte: UInt8(ascii: "0") + UInt8(fraction / 10))
        if fraction % 10 != 0 { write(byte: UInt8(ascii: "0") + UInt8(fraction % 10)) }
    }
}
