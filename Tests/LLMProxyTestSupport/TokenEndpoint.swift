import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// An OAuth token endpoint on 127.0.0.1 for the credentials tests: Google's
/// JWT-bearer grant (the assertion's RS256 signature checked with the public
/// half of a key pair made here), Entra ID's client-credentials grant and the
/// GCE metadata server, all issuing short-lived tokens it remembers, so an
/// upstream can ask whether a bearer is valid at the moment it arrives.
package final class TokenEndpoint: Sendable {
    package let server: MockUpstream
    package let privateKey: _RSA.Signing.PrivateKey
    package let clientEmail = "gateway@test-project.iam.gserviceaccount.com"
    package let lifetimeSeconds: Double

    package struct Grant: Sendable {
        package var request: RecordedRequest
        package var form: [String: String]
        /// Why it was refused; nil when a token was issued.
        package var refusal: String?
        /// When it was answered.
        package var at = Date()
    }

    private struct State {
        var issued: [String: Date] = [:]
        var grants: [Grant] = []
        var failing = false
        var counter = 0
        var firstIssuedAt: Date?
    }

    private let state = Mutex(State())

    /// One key pair for every endpoint of the run: making a 2,048-bit RSA key
    /// takes up to a second of CPU, which loaded the tests running beside these.
    private static let sharedKey = Result { try _RSA.Signing.PrivateKey(keySize: .bits2048) }

    package var baseURL: String { server.baseURL }
    package var grants: [Grant] { state.withLock { $0.grants } }
    package var issuedCount: Int { state.withLock { $0.issued.count } }
    /// When the first token was issued.
    package var firstIssuedAt: Date? { state.withLock { $0.firstIssuedAt } }

    /// `lifetimeSeconds`: each token's `expires_in`.
    package init(lifetimeSeconds: Double = 3) async throws {
        let key = try Self.sharedKey.get()
        privateKey = key
        self.lifetimeSeconds = lifetimeSeconds
        // The server's behaviour needs `self`; it is set right after.
        server = try await MockUpstream { _ in .json("{}", status: 503) }
        let email = clientEmail
        server.setBehavior { [self] request in answer(request, publicKey: key.publicKey, email: email) }
    }

    /// A service-account key file for this endpoint (`token_uri` points here).
    package func serviceAccountFile(in directory: URL, name: String = "sa.json") throws -> URL {
        let object: [String: Any] = [
            "type": "service_account", "project_id": "test-project", "private_key_id": "kid-1",
            "private_key": privateKey.pkcs8PEMRepresentation, "client_email": clientEmail, "client_id": "1234",
            "token_uri": "\(baseURL)/token",
        ]
        let url = directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    /// While failing, every grant is answered with a 500.
    package func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    /// Whether `authorization` (`Bearer …`) is a token this endpoint issued
    /// that has not expired at `moment`.
    package func isValid(authorization: String?, at moment: Date = Date()) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        let token = String(authorization.dropFirst(7))
        return state.withLock { $0.issued[token].map { moment < $0 } ?? false }
    }

    package func stop() async { await server.stop() }

    private func answer(_ request: RecordedRequest, publicKey: _RSA.Signing.PublicKey, email: String) -> UpstreamBehavior {
        let form = Self.form(request.bodyText)
        var refusal: String?
        if request.uri.hasPrefix("/computeMetadata/") {
            if request.method != "GET" || request.header("Metadata-Flavor") != "Google" { refusal = "metadata calls need GET with Metadata-Flavor: Google" }
        } else if request.method != "POST" || request.header("Content-Type") != "application/x-www-form-urlencoded" {
            refusal = "a token grant is a form POST"
        } else if form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            refusal = Self.checkAssertion(form["assertion"] ?? "", publicKey: publicKey, email: email, audience: "\(baseURL)/token")
        } else if form["grant_type"] != "client_credentials" {
            refusal = "unsupported grant_type"
        }
        let failing = state.withLock { $0.failing }
        if failing { refusal = "the endpoint is failing" }
        let token: String? = state.withLock { state in
            state.grants.append(Grant(request: request, form: form, refusal: refusal))
            guard refusal == nil else { return nil }
            state.counter += 1
            let token = "ya29.test-token-\(state.counter)-\(UUID().uuidString)"
            state.issued[token] = Date().addingTimeInterval(lifetimeSeconds)
            if state.firstIssuedAt == nil { state.firstIssuedAt = Date() }
            return token
        }
        guard let token else {
            return .json(#"{"error":"invalid_grant","error_description":"\#(refusal!)"}"#, status: failing ? 500 : 400)
        }
        return .json(#"{"access_token":"\#(token)","expires_in":\#(lifetimeSeconds),"token_type":"Bearer"}"#)
    }

    /// Nil when the JWT is signed by the key pair's private key and its
    /// claims are Google's; otherwise what is wrong.
    package static func checkAssertion(_ jwt: String, publicKey: _RSA.Signing.PublicKey, email: String, audience: String) -> String? {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = decode(parts[0]), let claimBytes = decode(parts[1]), let signature = decode(parts[2]) else {
            return "the assertion is not a JWT"
        }
        guard let headerObject = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any], headerObject["alg"] as? String == "RS256" else {
            return "the assertion is not RS256"
        }
        let signed = Array("\(parts[0]).\(parts[1])".utf8)
        guard publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5) else {
            return "the assertion's signature does not verify"
        }
        guard let claims = try? JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any],
            claims["iss"] as? String == email, claims["aud"] as? String == audience,
            claims["scope"] as? String == "https://www.googleapis.com/auth/cloud-platform",
            let iat = claims["iat"] as? Int, let exp = claims["exp"] as? Int, exp - iat == 3600,
            abs(Double(iat) - Date().timeIntervalSince1970) < 60
        else {
            return "the assertion's claims are not Google's"
        }
        return nil
    }

    private static func decode(_ part: Substring) -> [UInt8]? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text).map(Array.init)
    }

    package static func form(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = (parts.first.map(String.init) ?? "").removingPercentEncoding ?? ""
            let value = (parts.count > 1 ? String(parts[1]) : "").replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            fields[name] = value
        }
        return fields
    }
}
