import NIOHTTP1

/// Which headers cross the gateway, in each direction.
enum ForwardedHeaders {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself.
    private static let notForwardedUpstream: [String] = [
        "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "expect", "proxy-authorization",
        // The gateway reads usage and `[DONE]` from the response, so it asks
        // for it uncompressed.
        "accept-encoding",
    ]

    private static let notForwardedDownstream: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The request headers for the provider: the client's minus hop-by-hop
    /// and credential headers, then the plan's (provider headers and key).
    static func upstreamRequest(client: HTTPHeaders, plan: UpstreamRequestPlan, host: String, contentLength: Int) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(client.count + plan.headers.count + 2)
        headers.add(name: "Host", value: host)
        // Names a `Connection` header lists are hop-by-hop too (rare beyond keep-alive).
        let connectionTokens = client[canonicalForm: "connection"].filter { !$0.utf8.elementsEqualIgnoringASCIICase("keep-alive".utf8) && !$0.utf8.elementsEqualIgnoringASCIICase("close".utf8) }
        var sawContentType = false
        for (name, value) in client {
            let bytes = name.utf8
            let count = bytes.count
            if notForwardedUpstream.contains(where: { $0.utf8.count == count && bytes.elementsEqualIgnoringASCIICase($0.utf8) })
                || ClientCredential.headerNames.contains(where: { $0.utf8.count == count && bytes.elementsEqualIgnoringASCIICase($0.utf8) })
                || plan.headers.contains(where: { $0.name.utf8.count == count && bytes.elementsEqualIgnoringASCIICase($0.name.utf8) })
                || connectionTokens.contains(where: { bytes.elementsEqualIgnoringASCIICase($0.utf8) })
            {
                continue
            }
            if bytes.elementsEqualIgnoringASCIICase("content-type".utf8) { sawContentType = true }
            headers.add(name: name, value: value)
        }
        if !sawContentType && contentLength > 0 { headers.add(name: "Content-Type", value: "application/json") }
        for header in plan.headers { headers.add(name: header.name, value: header.value) }
        headers.add(name: "Content-Length", value: String(contentLength))
        return headers
    }

    /// The provider's response head for the client.
    static func downstreamResponse(_ upstream: HTTPResponseHead, clientVersion: HTTPVersion, keepAlive: Bool) -> (head: HTTPResponseHead, isEventStream: Bool) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.headers.count + 3)
        var isEventStream = false
        for (name, value) in upstream.headers {
            let bytes = name.utf8
            let count = bytes.count
            if notForwardedDownstream.contains(where: { $0.utf8.count == count && bytes.elementsEqualIgnoringASCIICase($0.utf8) }) { continue }
            if bytes.elementsEqualIgnoringASCIICase("content-type".utf8)
                && value.utf8.prefix(17).elementsEqualIgnoringASCIICase("text/event-stream".utf8)
            {
                isEventStream = true
            }
            headers.add(name: name, value: value)
        }
        if isEventStream {
            headers.replaceOrAdd(name: "Cache-Control", value: "no-cache")
            headers.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return (HTTPResponseHead(version: clientVersion, status: upstream.status, headers: headers), isEventStream)
    }
}

extension Sequence where Element == UInt8 {
    /// ASCII case-insensitive equality, without allocating lowercased copies.
    func elementsEqualIgnoringASCIICase<Other: Sequence<UInt8>>(_ other: Other) -> Bool {
        var mine = makeIterator()
        var theirs = other.makeIterator()
        while true {
            switch (mine.next(), theirs.next()) {
            case (nil, nil): return true
            case (let a?, let b?):
                if a != b && (a | 0x20) != (b | 0x20) { return false }
                if a != b && !((a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z")) { return false }
            default: return false
            }
        }
    }
}
