import Foundation
import LLMProxyTestSupport
import NIOSSL
import Testing

/// HTTPS providers: TLS with SNI through NIOSSL, and `verify_ssl` deciding
/// whether an untrusted (self-signed) certificate is accepted.
@Suite(.serialized) struct TLSUpstreamTests {
    /// A throwaway self-signed certificate for 127.0.0.1, made with the local openssl.
    static func selfSignedContext() throws -> NIOSSLContext {
        let directory = try temporaryDirectory()
        let key = directory.appendingPathComponent("key.pem").path
        let cert = directory.appendingPathComponent("cert.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        return try NIOSSLContext(configuration: configuration)
    }

    @Test func httpsUpstreamWorksAndVerificationIsHonoured() async throws {
        let upstream = try await MockUpstream(tls: try Self.selfSignedContext())
        #expect(upstream.baseURL.hasPrefix("https://"))

        try await withGateway(yaml: providersYAML([("tls", upstream.baseURL, 1)], extra: "verify_ssl: false\n")) { unverified in
            for _ in 0..<3 {
                let response = try await TestClient.chat(port: unverified.port)
                #expect(response.status == 200)
            }
            #expect(upstream.requests.count == 3)
            #expect(upstream.connectionsOpened == 1 || upstream.connectionsOpened == 2)  // pooled per event loop
            #expect(upstream.requests.first?.header("authorization") == "Bearer sk-upstream-tls")
        }

        // verify_ssl: true (the default) refuses the self-signed certificate.
        try await withGateway(yaml: providersYAML([("tls", upstream.baseURL, 1)])) { verified in
            let refused = try await TestClient.chat(port: verified.port)
            #expect(refused.status == 502 && refused.errorCode == "upstream_unavailable")
            #expect(upstream.requests.count == 3)
        }
        await upstream.stop()
    }
}
