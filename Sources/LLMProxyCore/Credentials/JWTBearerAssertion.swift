import Crypto
import Foundation
import _CryptoExtras

/// The signed JWT of Google's service-account grant (RFC 7523): RS256 over
/// `header.claims`, one hour, audience the token endpoint.
package enum JWTBearerAssertion {
    package static let lifetimeSeconds = 3600

    package static func make(key: GoogleServiceAccountKey, issuedAt: Int) throws -> String {
        var header = #"{"alg":"RS256","typ":"JWT""#
        if let id = key.privateKeyID { header += ",\"kid\":\(JSONString.quoted(id))" }
        header += "}"
        let claims = "{\"iss\":\(JSONString.quoted(key.clientEmail)),\"scope\":\(JSONString.quoted(key.scope))"
            + ",\"aud\":\(JSONString.quoted(key.tokenURI)),\"iat\":\(issuedAt),\"exp\":\(issuedAt + lifetimeSeconds)}"
        let signingInput = base64URL(Array(header.utf8)) + "." + base64URL(Array(claims.utf8))
        let privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: key.privateKeyPEM)
        let signature = try privateKey.signature(for: SHA256.hash(data: Array(signingInput.utf8)), padding: .insecurePKCS1v1_5)
        return signingInput + "." + base64URL(Array(signature.rawRepresentation))
    }

    /// Base64 with the URL alphabet and no padding (RFC 7515).
    package static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}
