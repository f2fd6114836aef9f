import NIOHTTP1

/// The request headers the gateway itself reads, found in one pass over the
/// head. `HTTPHeaders.first(name:)` walks every header per name, and a
/// proxied request asks for four or five names.
package struct RequestHeadFacts {
    package var requestID: String?
    package var authorization: String?
    package var apiKey: String?
    package var googleAPIKey: String?
    /// `x-api-key`, the Anthropic SDKs' header.
    package var anthropicAPIKey: String?
    package var contentLength: String?
    package var expect: String?
    /// W3C trace context, read only when tracing is on.
    package var traceparent: String?

    package init(_ headers: HTTPHeaders) {
        // As `first(name:)`: the first of repeated headers counts.
        for (name, value) in headers {
            switch name.utf8.count {
            case 6:
                if expect == nil && name.isHeaderName("expect") { expect = value }
            case 7:
                if apiKey == nil && name.isHeaderName("api-key") { apiKey = value }
            case 9:
                if anthropicAPIKey == nil && name.isHeaderName("x-api-key") { anthropicAPIKey = value }
            case 11:
                if traceparent == nil && name.isHeaderName("traceparent") { traceparent = value }
            case 12:
                if requestID == nil && name.isHeaderName("x-request-id") { requestID = value }
            case 13:
                if authorization == nil && name.isHeaderName("authorization") { authorization = value }
            case 14:
                if contentLength == nil && name.isHeaderName("content-length") {
                    contentLength = value
                } else if googleAPIKey == nil && name.isHeaderName("x-goog-api-key") {
                    googleAPIKey = value
                }
            default:
                continue
            }
        }
    }

    package var expectsContinue: Bool { expect.map { $0.isHeaderName("100-continue") } ?? false }
}
