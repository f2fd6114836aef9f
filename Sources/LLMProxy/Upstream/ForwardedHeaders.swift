import NIOHTTP1

/// Which headers cross the gateway, in each direction.
enum ForwardedHeaders {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) and those the gateway sets itself.
    private static let notForwardedUpstream: Set<String> = [
        "host", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "expect", "proxy-authorization",
        // The gateway reads usage and `[DONE]` from the response, so it asks
        // for it uncompressed.
        "accept-encoding",
    ]

    private static let notForwardedDownstream: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The request headers for the provider: the client's minus hop-by-hop
    /// and credential headers, then the plan's (provider headers and key).
    static func upstreamRequest(client: HTTPHeaders, plan: UpstreamRequestPlan, host: String, contentLength: Int) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(client.count + plan.headers.count + 2)
        headers.add(name: "Host", value: host)
        let planNames = Set(plan.headers.map { $0.name.lowercased() })
        let connectionTokens = client[canonicalForm: "connection"].map { $0.lowercased() }
        var sawContentType = false
        for (name, value) in client {
            let lower = name.lowercased()
            if notForwardedUpstream.contains(lower) || ClientCredential.headerNames.contains(lower) || planNames.contains(lower)
                || connectionTokens.contains(lower)
            {
                continue
            }
            if lower == "content-type" { sawContentType = true }
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
            let lower = name.lowercased()
            if notForwardedDownstream.contains(lower) { continue }
            if lower == "content-type" && value.lowercased().hasPrefix("text/event-stream") { isEventStream = true }
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
