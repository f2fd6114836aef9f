import Foundation

/// One token request of a credentials kind, and the reading of its answer.
/// No sockets: the renewer sends what this builds.
public struct TokenGrant: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public var endpoint: UpstreamEndpoint
    public var method: Method
    /// Path and query, as written on the request line.
    public var target: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// A bearer token and how long it lives, as the endpoint said.
    public struct Token: Sendable, Equatable {
        public var accessToken: String
        public var lifetimeSeconds: Double
    }

    /// The request that gets a token for `credentials` now (`now`: Unix
    /// seconds, for a JWT's `iat`).
    public static func request(for credentials: ProviderCredentials, now: Int) throws(Problem) -> TokenGrant {
        switch credentials {
        case .googleServiceAccount(let key):
            guard let endpoint = UpstreamEndpoint(parsing: key.tokenURI) else { throw Problem(description: "token_uri is not an http(s) URL") }
            let assertion: String
            do {
                assertion = try JWTBearerAssertion.make(key: key, issuedAt: now)
            } catch {
                throw Problem(description: "cannot sign the JWT grant with the key file's private_key")
            }
            let form = "grant_type=\(PercentEncoding.encodeQueryValue("urn:ietf:params:oauth:grant-type:jwt-bearer"))&assertion=\(assertion)"
            return TokenGrant(endpoint: endpoint, method: .post, target: target(endpoint), headers: formHeaders, body: Array(form.utf8))
        case .gcpMetadata(let metadata):
            return TokenGrant(
                endpoint: metadata, method: .get, target: metadata.basePath + "/computeMetadata/v1/instance/service-accounts/default/token",
                headers: [("Metadata-Flavor", "Google"), ("Accept", "application/json")], body: [])
        case .azureClientCredentials(let azure):
            let url = azure.authority + "/" + PercentEncoding.encodePathSegment(azure.tenantID) + "/oauth2/v2.0/token"
            guard let endpoint = UpstreamEndpoint(parsing: url) else { throw Problem(description: "authority is not an http(s) URL") }
            let form = [
                ("grant_type", "client_credentials"), ("client_id", azure.clientID), ("client_secret", azure.clientSecret),
                ("scope", ProviderCredentials.azureCognitiveServicesScope),
            ].map { "\($0.0)=\(PercentEncoding.encodeQueryValue($0.1))" }.joined(separator: "&")
            return TokenGrant(endpoint: endpoint, method: .post, target: target(endpoint), headers: formHeaders, body: Array(form.utf8))
        }
    }

    private static let formHeaders: [(name: String, value: String)] = [
        ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
    ]

    private static func target(_ endpoint: UpstreamEndpoint) -> String { endpoint.basePath.isEmpty ? "/" : endpoint.basePath }

    /// An answer without `expires_in` (RFC 6749 only recommends it) is taken
    /// to live this long: renewed early rather than used past its end.
    public static let assumedLifetimeSeconds = 300.0

    /// The token of a 2xx answer, or why there is none. Error answers are
    /// described by their status and OAuth `error`/`error_description` (the
    /// endpoint's words, which carry no secret), never by the whole body.
    public static func token(status: Int, body: [UInt8]) throws(Problem) -> Token {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard (200..<300).contains(status) else {
            var message = "the token endpoint answered HTTP \(status)"
            if let error = object?["error"] as? String {
                message += ": \(clipped(error))"
                if let detail = object?["error_description"] as? String { message += " (\(clipped(detail)))" }
            } else if let error = object?["error"] as? [String: Any], let detail = error["message"] as? String {
                message += ": \(clipped(detail))"
            }
            throw Problem(description: message)
        }
        guard let object else { throw Problem(description: "the token endpoint's answer is not a JSON object") }
        guard let token = object["access_token"] as? String, !token.isEmpty else {
            throw Problem(description: "the token endpoint's answer has no access_token")
        }
        // Header-safe: the token goes into `Authorization` as it is.
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Problem(description: "the token endpoint's access_token has characters a header cannot carry")
        }
        var lifetime = assumedLifetimeSeconds
        if let seconds = object["expires_in"] as? NSNumber {
            lifetime = seconds.doubleValue
        } else if let text = object["expires_in"] as? String, let seconds = Double(text) {
            // Entra ID's v1 endpoint writes it as a string.
            lifetime = seconds
        }
        guard lifetime.isFinite, lifetime > 0 else { throw Problem(description: "the token endpoint's expires_in is not a positive number") }
        return Token(accessToken: token, lifetimeSeconds: lifetime)
    }

    private static func clipped(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        return flat.count > 200 ? String(flat.prefix(200)) + "…" : flat
    }
}
