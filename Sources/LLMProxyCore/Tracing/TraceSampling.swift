/// Whether a request gets spans, decided on its event loop before any span
/// exists, so a request that gets none costs nothing more: a client's
/// W3C `traceparent` decides by its sampled flag; other requests are
/// sampled at the configured ratio.
public struct TraceSampling: Sendable {
    /// The ratio as a bound on a random 64-bit draw.
    private let bound: UInt64
    private let always: Bool

    public init(ratio: Double) {
        always = ratio >= 1
        bound = ratio <= 0 ? 0 : UInt64(min(ratio, 1) * Double(UInt64.max / 2)) &* 2
    }

    /// `traceparent`: the client's header, if any; `draw`: a random number.
    public func isSampled(traceparent: Substring?, draw: UInt64) -> Bool {
        if let traceparent, let flags = Self.flags(ofTraceparent: traceparent) { return flags & 1 == 1 }
        return always || draw < bound
    }

    /// The trace flags of a valid `traceparent` (`00-{32 hex}-{16 hex}-{2 hex}`,
    /// neither id all zeros); nil for anything else, which is ignored as the
    /// W3C spec says.
    public static func flags(ofTraceparent header: Substring) -> UInt8? {
        let bytes = Array(header.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return nil }
        // Version ff is invalid; a later version may append fields after a dash.
        guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")), bytes.count == 55 || bytes[55] == UInt8(ascii: "-") else { return nil }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        for index in [0, 1] where hex(bytes[index]) == nil { return nil }
        var traceNonZero = false
        for index in 3..<35 {
            guard let value = hex(bytes[index]) else { return nil }
            if value != 0 { traceNonZero = true }
        }
        var spanNonZero = false
        for index in 36..<52 {
            guard let value = hex(bytes[index]) else { return nil }
            if value != 0 { spanNonZero = true }
        }
        guard traceNonZero, spanNonZero, let high = hex(bytes[53]), let low = hex(bytes[54]) else { return nil }
        return high << 4 | low
    }
}
