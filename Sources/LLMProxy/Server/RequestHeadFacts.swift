import NIOHTTP1

/// The request headers the gateway itself reads, found in one pass over the
/// head. `HTTPHeaders.first(name:)` walks every header per name, and a
/// proxied request asks for four or five names.
struct RequestHeadFacts {
    var requestID: String?
    var authorization: String?
    var apiKey: String?
    var googleAPIKey: String?
    var contentLength: String?
    var expect: String?

    init(_ headers: HTTPHeaders) {
        // As `first(name:)`: the first of repeated headers counts.
        for (name, value) in headers {
            switch name.utf8.count {
            case 6:
                if expect == nil && name.isHeaderName("expect") { expect = value }
            case 7:
                if apiKey == nil && name.isHeaderName("api-key") { apiKey = value }
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

    var expectsContinue: Bool { expect.map { $0.isHeaderName("100-continue") } ?? false }
}
