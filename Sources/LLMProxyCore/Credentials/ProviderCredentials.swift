/// Credentials a provider holds instead of an `api_key`: the gateway turns
/// them into short-lived bearer tokens and renews them in the background
/// (see `TokenRenewal`). Equal values mean the same identity, so a reload that
/// leaves them unchanged keeps the token in hand.
///
/// Never printed: `description` names the kind and the non-secret parts only.
public enum ProviderCredentials: Sendable, Hashable, CustomStringConvertible {
    /// A Google service-account key file: a JWT signed with its private key,
    /// exchanged at its `token_uri`.
    case googleServiceAccount(GoogleServiceAccountKey)
    /// The GCE/GKE metadata server's token for the workload's service account.
    case gcpMetadata(metadata: UpstreamEndpoint)
    /// Microsoft Entra ID's client-credentials grant.
    case azureClientCredentials(AzureClientCredentials)

    /// The `type` as written in the config.
    public var typeName: String {
        switch self {
        case .googleServiceAccount: return "google_service_account"
        case .gcpMetadata: return "gcp_metadata"
        case .azureClientCredentials: return "azure_client_credentials"
        }
    }

    public var description: String {
        switch self {
        case .googleServiceAccount(let key): return "google_service_account(\(key.clientEmail))"
        case .gcpMetadata(let metadata): return "gcp_metadata(\(metadata.hostHeader))"
        case .azureClientCredentials(let azure): return "azure_client_credentials(tenant \(azure.tenantID), client \(azure.clientID))"
        }
    }

    public static let defaultMetadataURL = "http://metadata.google.internal"
    public static let defaultAzureAuthority = "https://login.microsoftonline.com"
    public static let googleCloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
    public static let azureCognitiveServicesScope = "https://cognitiveservices.azure.com/.default"
}

/// The parts of a service-account key file the JWT grant uses.
public struct GoogleServiceAccountKey: Sendable, Hashable {
    public var clientEmail: String
    /// PEM (PKCS#8, as Google writes it); checked to be an RSA key at load.
    public var privateKeyPEM: String
    public var privateKeyID: String?
    public var tokenURI: String
    public var scope: String

    public init(clientEmail: String, privateKeyPEM: String, privateKeyID: String?, tokenURI: String, scope: String) {
        self.clientEmail = clientEmail
        self.privateKeyPEM = privateKeyPEM
        self.privateKeyID = privateKeyID
        self.tokenURI = tokenURI
        self.scope = scope
    }
}

public struct AzureClientCredentials: Sendable, Hashable {
    public var tenantID: String
    public var clientID: String
    public var clientSecret: String
    /// `https://login.microsoftonline.com` unless the config names another
    /// cloud's authority (`https://login.microsoftonline.us`, …).
    public var authority: String

    public init(tenantID: String, clientID: String, clientSecret: String, authority: String) {
        self.tenantID = tenantID
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.authority = authority
    }
}
