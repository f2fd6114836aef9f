import Logging
import NIOCore

/// What the access log and the request metrics say about one request,
/// filled in as it goes.
struct RequestRecord {
    let requestID: String
    let start: NIODeadline
    let method: String
    let path: String
    var endpoint: String = "other"
    var keyName: String?
    var model = ""
    var provider = ""
    var status = 0
    var firstByte: NIODeadline?
    var usage: UsageObserver.Usage?
    var retries = 0

    init(requestID: String, method: String, path: String, start: NIODeadline = .now()) {
        self.requestID = requestID
        self.method = method
        self.path = path
        self.start = start
    }

    /// The client's `X-Request-Id` if it is a sane token, else a new one.
    static func requestID(from header: String?) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128,
            header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        {
            return header
        }
        let high = UInt64.random(in: .min ... .max)
        let low = UInt32.random(in: .min ... .max)
        return hex(high, width: 16) + hex(UInt64(low), width: 8)
    }

    private static func hex(_ value: UInt64, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    func seconds(until end: NIODeadline) -> Double { Double((end - start).nanoseconds) / 1e9 }

    /// One line per request; never a key, a prompt or a completion.
    func log(to logger: Logger, end: NIODeadline) {
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "request_id": "\(requestID)", "method": "\(method)", "path": "\(path)", "status": "\(status)",
            "duration_ms": "\(Self.milliseconds(end - start))",
        ]
        if let keyName { metadata["key"] = "\(keyName)" }
        if !model.isEmpty { metadata["model"] = "\(model)" }
        if !provider.isEmpty { metadata["provider"] = "\(provider)" }
        if let firstByte { metadata["ttfb_ms"] = "\(Self.milliseconds(firstByte - start))" }
        if let usage {
            metadata["prompt_tokens"] = "\(usage.prompt)"
            metadata["completion_tokens"] = "\(usage.completion)"
            metadata["total_tokens"] = "\(usage.total)"
        }
        if retries > 0 { metadata["retries"] = "\(retries)" }
        logger.info("request", metadata: metadata)
    }

    private static func milliseconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e6
        return String(Double(Int((value * 100).rounded())) / 100)
    }
}
