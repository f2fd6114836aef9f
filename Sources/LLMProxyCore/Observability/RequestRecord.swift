import Logging
import NIOCore

/// What the access log and the request metrics say about one request,
/// filled in as it goes.
package struct RequestRecord {
    package let requestID: String
    package let start: NIODeadline
    package let method: String
    package let path: String
    package var endpoint: String = "other"
    /// Counted in the request metrics (see `GatewayRoute.isAPI`).
    package var isAPI = false
    package var keyName: String?
    package var model = ""
    package var provider = ""
    package var status = 0
    package var firstByte: NIODeadline?
    package var usage: UsageObserver.Usage?
    package var retries = 0
    /// The metric handles, once a provider was chosen.
    package var series: RequestSeries?
    /// The W3C trace id (32 hex digits) of a traced request.
    package var traceID: String?

    package init(requestID: String, method: String, path: String, start: NIODeadline = .now()) {
        self.requestID = requestID
        self.method = method
        self.path = path
        self.start = start
    }

    /// The client's `X-Request-Id` if it is a sane token, else a new one
    /// from the loop's generator (no system call per request).
    package static func requestID(from header: String?, generator: inout RequestIDGenerator) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128,
            header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        {
            return header
        }
        return hex(generator.next())
    }

    /// 16 lower-case hex digits, written in place (one allocation).
    package static func hex(_ value: UInt64) -> String {
        HexDigits.string(value, width: 16)
    }

    package func seconds(until end: NIODeadline) -> Double { Double((end - start).nanoseconds) / 1e9 }
}
