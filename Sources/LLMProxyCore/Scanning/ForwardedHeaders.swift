import NIOHTTP1

/// Which headers cross the gateway, in each direction.
package enum ForwardedHeaders {
    /// Hop-by-hop headers (RFC 9110 §7.6.1), those the gateway sets itself,
    /// and the client's credentials.
    private static let notForwardedUpstream = HeaderNameSet([
        "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "expect", "proxy-authorization",
        // The gateway reads usage and `[DONE]` from the response, so it asks
        // for it uncompressed.
        "accept-encoding",
    ] + ClientCredential.headerNames)

    private static let notForwardedDownstream = HeaderNameSet([
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
    ])

    /// The request headers for the provider, in order: `Host`, the client's
    /// minus hop-by-hop and credential headers, the plan's (provider headers
    /// and key), its defaults the client did not send, `Content-Length`, and
    /// the request id unless the client sent one. Handed to `emit` one by one, so they can be written straight
    /// into the request's bytes.
    package static func upstreamRequest(
        client: HTTPHeaders, plan: UpstreamRequestPlan, host: String, contentLength: Int?, requestID: String?, authorization: String? = nil,
        traceparent: String? = nil, _ emit: (_ name: String, _ value: String) -> Void
    ) {
        emit("Host", host)
        // Names a `Connection` header lists are hop-by-hop too (rare beyond
        // keep-alive and close, so the common values cost no allocation).
        var connectionTokens: [Substring] = []
        var sawContentType = false
        var sawRequestID = false
        // Which of the plan's defaults the client sent itself (rarely any defaults at all).
        var sentDefaults = 0
        // Most requests have no `Connection` header at all: NIO's own lookup
        // reads its header array in place, where iterating `HTTPHeaders`
        // here copies each name and value (a retain and release each).
        if client.contains(name: "connection") {
            for (name, value) in client {
                if name.isHeaderName("connection") && !value.isHeaderName("keep-alive") && !value.isHeaderName("close") {
                    connectionTokens += value.split(separator: ",").map { $0.trimmingASCIISpaces() }
                }
            }
        }
        for (name, value) in client {
            if notForwardedUpstream.contains(name)
                || plan.headers.contains(where: { name.isHeaderName($0.name) })
                || (!connectionTokens.isEmpty && name.isHeaderName(in: connectionTokens))
                // A traced attempt sends its own span's context instead.
                || (traceparent != nil && name.isHeaderName("traceparent"))
            {
                continue
            }
            if name.isHeaderName("content-type") { sawContentType = true }
            if name.isHeaderName("x-request-id") { sawRequestID = true }
            if !plan.defaultHeaders.isEmpty, let index = plan.defaultHeaders.firstIndex(where: { name.isHeaderName($0.name) }) {
                sentDefaults |= 1 << index
            }
            emit(name, value)
        }
        if !sawContentType && (contentLength ?? 1) > 0 { emit("Content-Type", "application/json") }
        for header in plan.headers { emit(header.name, header.value) }
        // A renewed token (`credentials`): the one header a cached plan cannot hold.
        if let authorization { emit("Authorization", authorization) }
        if let traceparent { emit("traceparent", traceparent) }
        // By index: `enumerated()` looks its generic type up at run time on every call.
        if !plan.defaultHeaders.isEmpty {
            for index in plan.defaultHeaders.indices where sentDefaults & (1 << index) == 0 {
                emit(plan.defaultHeaders[index].name, plan.defaultHeaders[index].value)
            }
        }
        // nil: a streamed upload the client sent chunked, sent on chunked.
        if let contentLength { emit("Content-Length", String(contentLength)) } else { emit("Transfer-Encoding", "chunked") }
        // The same id in the provider's logs as in ours.
        if !sawRequestID, let requestID { emit("X-Request-Id", requestID) }
    }

    /// What the gateway needs to know of a provider's response head before
    /// writing it on: whether it is a stream and how long its body is.
    /// (As `first(name:)`: the first of repeated headers counts. NIO's
    /// lookups read its header array in place; iterating `HTTPHeaders` here
    /// copied every name and value.)
    package static func inspectDownstream(_ upstream: HTTPHeaders) -> (isEventStream: Bool, contentLength: Int?) {
        let isEventStream = upstream.first(name: "content-type")?.utf8.prefix(17).elementsEqualIgnoringASCIICase("text/event-stream".utf8) ?? false
        return (isEventStream, upstream.first(name: "content-length").flatMap { Int($0) })
    }

    /// The provider's response headers the client gets: all but hop-by-hop
    /// ones and the framing (`GatewayHandler` writes its own, and for a
    /// stream its own `Cache-Control` and `X-Accel-Buffering`).
    package static func downstreamResponse(_ upstream: HTTPHeaders, isEventStream: Bool, _ emit: (_ name: String, _ value: String) -> Void) {
        for (name, value) in upstream {
            if notForwardedDownstream.contains(name) { continue }
            if isEventStream && (name.isHeaderName("cache-control") || name.isHeaderName("x-accel-buffering")) { continue }
            emit(name, value)
        }
    }
}

extension Substring {
    package func trimmingASCIISpaces() -> Substring {
        var result = self
        while let first = result.utf8.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { result = result.dropFirst() }
        while let last = result.utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { result = result.dropLast() }
        return result
    }
}

extension StringProtocol {
    /// Header-name equality (ASCII case-insensitive), without allocating
    /// lowercased copies; the length check skips most candidates at once.
    package func isHeaderName<Other: StringProtocol>(_ other: Other) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        // Native strings compare over their contiguous bytes; iterating
        // `UTF8View`s costs several times more.
        let contiguous = utf8.withContiguousStorageIfAvailable { mine in
            other.utf8.withContiguousStorageIfAvailable { theirs in mine.equalsIgnoringASCIICase(theirs) }
        }
        return (contiguous ?? nil) ?? utf8.elementsEqualIgnoringASCIICase(other.utf8)
    }

    package func isHeaderName<Other: StringProtocol>(in names: [Other]) -> Bool {
        names.contains { isHeaderName($0) }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// `elementsEqualIgnoringASCIICase` by index: the iterator pair of the
    /// generic version costs several times more per byte.
    package func equalsIgnoringASCIICase(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard count == other.count else { return false }
        for index in indices {
            let a = self[index]
            let b = other[index]
            if a == b { continue }
            let lower = a | 0x20
            guard lower == b | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}

extension Sequence where Element == UInt8 {
    /// ASCII case-insensitive equality: bytes equal, or the same letter in
    /// the other case.
    package func elementsEqualIgnoringASCIICase<Other: Sequence<UInt8>>(_ other: Other) -> Bool {
        var mine = makeIterator()
        var theirs = other.makeIterator()
        while true {
            switch (mine.next(), theirs.next()) {
            case (nil, nil):
                return true
            case (let a?, let b?):
                if a == b { continue }
                let lower = a | 0x20
                guard lower == b | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else { return false }
            default:
                return false
            }
        }
    }
}
