import Foundation
import _CryptoExtras

extension GoogleServiceAccountKey {
    /// Why a key file cannot be used; the message never quotes the file's
    /// secret parts.
    public struct FileProblem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads the JSON key file Google's console and `gcloud iam
    /// service-accounts keys create` write (`"type": "service_account"`).
    public static func parse(fileContents: [UInt8], scope: String) throws(FileProblem) -> GoogleServiceAccountKey {
        guard let object = try? JSONSerialization.jsonObject(with: Data(fileContents)) as? [String: Any] else {
            throw FileProblem(description: "is not a JSON object (a service-account key file is JSON)")
        }
        let type = object["type"] as? String
        guard type == "service_account" else {
            throw FileProblem(description: type.map { "is not a service-account key (its type is '\($0)')" } ?? "is not a service-account key (it has no \"type\": \"service_account\")")
        }
        func field(_ name: String) throws(FileProblem) -> String {
            guard let value = object[name] as? String, !value.isEmpty else { throw FileProblem(description: "has no \(name)") }
            return value
        }
        let email = try field("client_email")
        let pem = try field("private_key")
        let tokenURI = try field("token_uri")
        guard UpstreamEndpoint(parsing: tokenURI) != nil else {
            throw FileProblem(description: "has a token_uri that is not an http(s) URL")
        }
        guard (try? _RSA.Signing.PrivateKey(pemRepresentation: pem)) != nil else {
            throw FileProblem(description: "has a private_key that is not an RSA private key in PEM form")
        }
        return GoogleServiceAccountKey(clientEmail: email, privateKeyPEM: pem, privateKeyID: object["private_key_id"] as? String, tokenURI: tokenURI, scope: scope)
    }
}
