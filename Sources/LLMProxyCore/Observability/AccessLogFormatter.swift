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
        switch format {
        case .text: writeText(record, end: end, into: &buffer)
        case .json: writeJSON(record, end: end, milliseconds: Int(now.tv_nsec / 1_000_000), into: &buffer)
        }
    }

    // MARK: - Text

    private func writeText(_ record: RequestRecord, end: NIODeadline, into buffer: inout ByteBuffer) {
        // One growth at most per line, rather than a check per write turning into one.
        buffer.reserveCapacity(minimumWritableBytes: 384 + record.path.utf8.count + record.model.utf8.count + (record.keyName?.utf8.count ?? 0))
        buffer.writeBytes(stamp)
        buffer.writeStaticString(" info ")
        buffer.writeString(label)
        buffer.writeStaticString(":")
        Self.fields(record, end: end, json: false, into: &buffer)
        buffer.writeStaticString(" [LLMProxyServer] request\n")
    }

    // MARK: - JSON

    private func writeJSON(_ record: RequestRecord, end: NIODeadline, milliseconds: Int, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: 448 + record.path.utf8.count + record.model.utf8.count + (record.keyName?.utf8.count ?? 0))
        buffer.writeStaticString("{\"ts\":\"")
        buffer.writeBytes(stamp)
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds / 100))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds % 10))
        buffer.writeStaticString("Z\",\"level\":\"info\",\"logger\":")
        buffer.writeJSONString(label)
        buffer.writeStaticString(",\"msg\":\"request\"")
        Self.fields(record, end: end, json: true, into: &buffer)
        buffer.writeStaticString("}\n")
    }

    // MARK: - The fields, in alphabetical order (as the swift-log handlers sorted them)

    /// Each field's name is written with its separators in one piece, in the
    /// line's format: ` name=` for text, `,"name":` for JSON (whose values are
    /// all strings, as `JSONLogHandler` wrote them).
    private static func fields(_ record: RequestRecord, end: NIODeadline, json: Bool, into buffer: inout ByteBuffer) {
        func text(_ text: StaticString, _ jsonName: StaticString, _ value: String) {
            if json {
                buffer.writeStaticString(jsonName)
                buffer.writeJSONString(value)
            } else {
                buffer.writeStaticString(text)
                buffer.writeString(value)
            }
        }
        func integer(_ text: StaticString, _ jsonName: StaticString, _ value: Int) {
            buffer.writeStaticString(json ? jsonName : text)
            if json { buffer.writeInteger(UInt8(ascii: "\"")) }
            buffer.writeDecimal(value)
            if json { buffer.writeInteger(UInt8(ascii: "\"")) }
        }
        func milliseconds(_ text: StaticString, _ jsonName: StaticString, _ value: TimeAmount) {
            buffer.writeStaticString(json ? jsonName : text)
            if json { buffer.writeInteger(UInt8(ascii: "\"")) }
            buffer.writeMilliseconds(value)
            if json { buffer.writeInteger(UInt8(ascii: "\"")) }
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


extension ByteBuffer {
    /// Milliseconds as the swift-log lines printed them (a `Double` rounded
    /// to two decimals: `12.0`, `0.84`, `1.5`).
    fileprivate mutating func writeMilliseconds(_ amount: TimeAmount) {
        let hundredths = Int((Double(amount.nanoseconds) / 1e4).rounded())
        writeDecimal(hundredths / 100)
        writeInteger(UInt8(ascii: "."))
        let fraction = hundredths % 100
        if fraction % 10 == 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(fraction / 10))
        } else {
            writeInteger(UInt8(ascii: "0") + UInt8(fraction / 10))
            writeInteger(UInt8(ascii: "0") + UInt8(fraction % 10))
        }
    }

    /// A JSON string literal; the bytes as they are when nothing needs escaping (the usual case).
    fileprivate mutating func writeJSONString(_ value: String) {
        if !JSONString.needsEscaping(value) {
            writeInteger(UInt8(ascii: "\""))
            writeString(value)
            writeInteger(UInt8(ascii: "\""))
        } else {
            writeString(JSONString.quoted(value))
        }
    }
}
