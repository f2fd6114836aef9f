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
        buffer.writeBytes(stamp)
        buffer.writeStaticString(" info ")
        buffer.writeString(label)
        buffer.writeStaticString(":")
        var fields = TextFields(buffer: buffer)
        buffer = ByteBuffer()
        Self.fields(record, end: end, into: &fields)
        buffer = fields.buffer
        buffer.writeStaticString(" [LLMProxyServer] request\n")
    }

    private struct TextFields: FieldWriter {
        var buffer: ByteBuffer
        mutating func field(_ name: StaticString, _ value: String) {
            writeName(name)
            buffer.writeString(value)
        }
        mutating func field(_ name: StaticString, integer value: Int) {
            writeName(name)
            buffer.writeDecimal(value)
        }
        mutating func field(_ name: StaticString, milliseconds value: TimeAmount) {
            writeName(name)
            buffer.writeMilliseconds(value)
        }
        private mutating func writeName(_ name: StaticString) {
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeStaticString(name)
            buffer.writeInteger(UInt8(ascii: "="))
        }
    }

    // MARK: - JSON

    private func writeJSON(_ record: RequestRecord, end: NIODeadline, milliseconds: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"ts\":\"")
        buffer.writeBytes(stamp)
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds / 100))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(milliseconds % 10))
        buffer.writeStaticString("Z\",\"level\":\"info\",\"logger\":")
        buffer.writeJSONString(label)
        buffer.writeStaticString(",\"msg\":\"request\"")
        var fields = JSONFields(buffer: buffer)
        buffer = ByteBuffer()
        Self.fields(record, end: end, into: &fields)
        buffer = fields.buffer
        buffer.writeStaticString("}\n")
    }

    private struct JSONFields: FieldWriter {
        var buffer: ByteBuffer
        mutating func field(_ name: StaticString, _ value: String) {
            writeName(name)
            buffer.writeJSONString(value)
        }
        mutating func field(_ name: StaticString, integer value: Int) {
            writeName(name)
            buffer.writeInteger(UInt8(ascii: "\""))
            buffer.writeDecimal(value)
            buffer.writeInteger(UInt8(ascii: "\""))
        }
        mutating func field(_ name: StaticString, milliseconds value: TimeAmount) {
            writeName(name)
            buffer.writeInteger(UInt8(ascii: "\""))
            buffer.writeMilliseconds(value)
            buffer.writeInteger(UInt8(ascii: "\""))
        }
        private mutating func writeName(_ name: StaticString) {
            buffer.writeStaticString(",\"")
            buffer.writeStaticString(name)
            buffer.writeStaticString("\":")
        }
    }

    // MARK: - The fields, in alphabetical order (as the swift-log handlers sorted them)

    private static func fields<Writer: FieldWriter>(_ record: RequestRecord, end: NIODeadline, into writer: inout Writer) {
        if let usage = record.usage { writer.field("completion_tokens", integer: usage.completion) }
        writer.field("duration_ms", milliseconds: end - record.start)
        if let keyName = record.keyName { writer.field("key", keyName) }
        writer.field("method", record.method)
        if !record.model.isEmpty { writer.field("model", record.model) }
        writer.field("path", record.path)
        if let usage = record.usage { writer.field("prompt_tokens", integer: usage.prompt) }
        if !record.provider.isEmpty { writer.field("provider", record.provider) }
        writer.field("request_id", record.requestID)
        if record.retries > 0 { writer.field("retries", integer: record.retries) }
        writer.field("status", integer: record.status)
        if let usage = record.usage { writer.field("total_tokens", integer: usage.total) }
        if let firstByte = record.firstByte { writer.field("ttfb_ms", milliseconds: firstByte - record.start) }
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

private protocol FieldWriter {
    mutating func field(_ name: StaticString, _ value: String)
    mutating func field(_ name: StaticString, integer value: Int)
    mutating func field(_ name: StaticString, milliseconds value: TimeAmount)
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
