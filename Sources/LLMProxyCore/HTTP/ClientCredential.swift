import NIOHTTP1

/// The client's credential, from wherever its SDK puts it.
package enum ClientCredential {
    package static func find(_ headers: RequestHeadFacts, query: Substring?) -> Substring? {
        if let authorization = headers.authorization {
            // By UTF-8 index: `Substring`'s character operations run grapheme
            // breaking over what is a plain ASCII token.
            let bytes = authorization.utf8
            guard bytes.count > 7, Substring(bytes.prefix(7)).isHeaderName("bearer ") else { return Substring(authorization) }
            var start = bytes.index(bytes.startIndex, offsetBy: 7)
            while start < bytes.endIndex && bytes[start] == UInt8(ascii: " ") { start = bytes.index(after: start) }
            return authorization[start...]
        }
        if let key = headers.apiKey { return Substring(key) }
        if let key = headers.anthropicAPIKey { return Substring(key) }
        if let key = headers.googleAPIKey { return Substring(key) }
        if let query {
            for pair in query.split(separator: "&") where pair.hasPrefix("key=") {
                return Substring(PercentEncoding.decode(pair.dropFirst(4)))
            }
        }
        return nil
    }

    /// Client headers that carry credentials: never forwarded.
    package static let headerNames = ["authorization", "api-key", "x-api-key", "x-goog-api-key"]
}
