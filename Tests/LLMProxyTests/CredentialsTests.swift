import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import Logging
import NIOPosix
import Prometheus
import LLMProxyTestSupport
import NIOCore
import Synchronization
import Testing

/// Provider credentials that expire: the renewal's timing without sockets,
/// then gateways that renew 3-second tokens from a token endpoint of the
/// test's own (which checks each JWT's signature) while traffic flows.
@Suite(.serialized) struct CredentialsTests {
    // MARK: - Without sockets

    @Test func renewalFetchesEarlyWithdrawsBeforeExpiryAndBacksOff() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var renewal = TokenRenewal(now: start)
        #expect(renewal.next(now: start) == .fetch)
        // A one-hour token: renewed 5 minutes before its end, sent until 30 s before it.
        renewal.fetched(token: "t1", lifetimeSeconds: 3600, sentAt: start)
        #expect(renewal.usableUntil == start + .seconds(3570))
        #expect(renewal.next(now: start + .seconds(1)) == .sleep(until: start + .seconds(3300)))
        #expect(renewal.next(now: start + .seconds(3300)) == .fetch)
        // Failures back off 250 ms, 500 ms, 1 s, … and keep the token until it may no longer be sent.
        renewal.failed(now: start + .seconds(3300))
        #expect(renewal.next(now: start + .seconds(3300)) == .sleep(until: start + .seconds(3300) + .milliseconds(250)))
        renewal.failed(now: start + .seconds(3301))
        #expect(renewal.next(now: start + .seconds(3301)) == .sleep(until: start + .seconds(3301) + .milliseconds(500)))
        #expect(renewal.token == "t1")
        for _ in 0..<20 { renewal.failed(now: start + .seconds(3400)) }
        #expect(renewal.next(now: start + .seconds(3400)) == .sleep(until: start + .seconds(3430)))
        #expect(TokenRenewal.retryDelay(afterFailures: 30) == .seconds(30))
        #expect(renewal.next(now: start + .seconds(3570)) == .withdraw)
        #expect(renewal.token == nil)
        #expect(renewal.next(now: start + .seconds(3571)) == .sleep(until: start + .seconds(3430)) || renewal.next(now: start + .seconds(3571)) == .fetch)
        // A 3-second token: renewed with 0.75 s left, not sent in its last 0.3 s.
        renewal.fetched(token: "t2", lifetimeSeconds: 3, sentAt: start)
        #expect(renewal.consecutiveFailures == 0)
        #expect(renewal.usableUntil == start + .milliseconds(2700))
        #expect(renewal.next(now: start) == .sleep(until: start + .milliseconds(2250)))
    }

    @Test func tokenAnswersAreReadAndErrorsDescribedWithoutTheBody() throws {
        let ok = try TokenGrant.token(status: 200, body: Array(#"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"}"#.utf8))
        #expect(ok == TokenGrant.Token(accessToken: "ya29.abc", lifetimeSeconds: 3599))
        // Entra ID's v1 endpoint writes expires_in as a string; an answer without one is taken to live 5 minutes.
        #expect(try TokenGrant.token(status: 200, body: Array(#"{"access_token":"x","expires_in":"3600"}"#.utf8)).lifetimeSeconds == 3600)
        #expect(try TokenGrant.token(status: 200, body: Array(#"{"access_token":"x"}"#.utf8)).lifetimeSeconds == 300)
        func problem(_ status: Int, _ body: String) -> String {
            do {
                _ = try TokenGrant.token(status: status, body: Array(body.utf8))
                return ""
            } catch {
                return error.description
            }
        }
        #expect(problem(400, #"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
            == "the token endpoint answered HTTP 400: invalid_grant (Invalid JWT Signature.)")
        #expect(problem(503, "<html>busy</html>") == "the token endpoint answered HTTP 503")
        #expect(problem(200, #"{"token_type":"Bearer"}"#).contains("no access_token"))
        #expect(problem(200, #"{"access_token":"a\nb"}"#).contains("header"))
        #expect(problem(200, #"{"access_token":"a","expires_in":-5}"#).contains("positive"))
    }

    @Test func vertexExpressKeysAreSentAsAnAPIKeyOnly() throws {
        let config = try ConfigParser.parse("""
            providers:
              - {name: express, type: gemini, api_base: "https://aiplatform.googleapis.com/v1/publishers/google", api_key: AQ.abc}
              - {name: studio, type: gemini, api_base: "https://generativelanguage.googleapis.com/v1beta/openai", api_key: AIzaXYZ}
            """, file: "c.yaml")
        let express = GeminiAdapter().plan(.chatCompletions, upstreamModel: "gemini-2.5-flash", provider: config.providers[0], clientQuery: nil, responseID: nil)
        #expect(express.headers == [.init(name: "x-goog-api-key", value: "AQ.abc")])
        let studio = GeminiAdapter().plan(.chatCompletions, upstreamModel: "gemini-2.5-flash", provider: config.providers[1], clientQuery: nil, responseID: nil)
        #expect(studio.headers == [.init(name: "Authorization", value: "Bearer AIzaXYZ"), .init(name: "x-goog-api-key", value: "AIzaXYZ")])
    }

    @Test func credentialsAreValidatedWithLineAndColumn() throws {
        let directory = try temporaryDirectory()
        let notAKey = directory.appendingPathComponent("user.json")
        try writeFile(#"{"type":"authorized_user","client_id":"x","client_secret":"hidden-user-secret","refresh_token":"r"}"#, to: notAKey)
        let notJSON = directory.appendingPathComponent("garbage.json")
        try writeFile("-----BEGIN PRIVATE KEY-----", to: notJSON)
        let badKey = directory.appendingPathComponent("badkey.json")
        try writeFile(#"{"type":"service_account","client_email":"a@b","private_key":"not a pem","token_uri":"https://oauth2.googleapis.com/token"}"#, to: badKey)
        func problems(_ provider: String) -> String {
            configErrors("providers:\n  - \(provider)\n", file: directory.appendingPathComponent("c.yaml").path)
        }
        let missing = problems("{name: v, type: gemini, api_base: \"https://x\", credentials: {type: google_service_account, file: /nonexistent/sa.json}}")
        #expect(missing.contains("c.yaml:2:102: error: provider 'v' credentials: the key file '/nonexistent/sa.json' does not exist"), "\(missing)")
        // A relative path is read from the config file's directory.
        let user = problems("{name: v, type: gemini, api_base: \"https://x\", credentials: {type: google_service_account, file: user.json}}")
        #expect(user.contains(":2:102: error: provider 'v' credentials: the key file '\(notAKey.path)' is not a service-account key (its type is 'authorized_user')"), "\(user)")
        #expect(!user.contains("hidden-user-secret"))
        #expect(problems("{name: v, type: gemini, api_base: \"https://x\", credentials: {type: google_service_account, file: garbage.json}}").contains("is not a JSON object"))
        #expect(problems("{name: v, type: gemini, api_base: \"https://x\", credentials: {type: google_service_account, file: badkey.json}}").contains("private_key that is not an RSA private key"))
        #expect(problems("{name: v, type: gemini, api_base: \"https://x\", credentials: {type: google_service_account}}").contains("needs 'file'"))
        let tenant = problems("{name: a, type: azure, api_base: \"https://x\", credentials: {type: azure_client_credentials, client_id: c, client_secret: s3cr3t-value}}")
        #expect(tenant.contains(":2:64: error: provider 'a' credentials: azure_client_credentials need 'tenant_id'"), "\(tenant)")
        #expect(!tenant.contains("s3cr3t-value"))
        #expect(problems("{name: a, type: azure, api_base: \"https://x\", api_key: k, credentials: {type: gcp_metadata}}").contains("need a gemini"))
        #expect(problems("{name: a, type: gemini, api_base: \"https://x\", api_key: k, credentials: {type: gcp_metadata}}").contains("api_key and credentials cannot both be given"))
        #expect(problems("{name: a, type: gemini, api_base: \"https://x\", credentials: {type: kerberos}}").contains("unknown credentials type 'kerberos'"))
        #expect(problems("{name: a, type: gemini, api_base: \"https://x\", credentials: {type: gcp_metadata, metadata_url: \"ftp://x\"}}").contains("metadata_url 'ftp://x' is not an http(s) URL"))
        #expect(problems("{name: a, type: anthropic, credentials: {type: azure_client_credentials, tenant_id: t, client_id: c, client_secret: s}}").contains("need an azure"))
        #expect(problems("{name: a, type: gemini, api_base: \"https://x\", credentials: {type: gcp_metadata}}") == "")
    }

    // MARK: - Gateways renewing tokens

    /// A gemini provider with a service-account key file for `tokens`.
    static func serviceAccountYAML(upstream: String, keyFile: String, extra: String = "") -> String {
        """
        health_check: {enabled: false}
        providers:
          - name: vertex
            type: gemini
            api_base: \(upstream)/v1beta/openai
            credentials: {type: google_service_account, file: \(keyFile)}
            model_mapping: {demo: gemini-2.5-flash}
        master_keys:
          - {name: team, key: sk-test}
        \(extra)
        """
    }

    /// An upstream that answers only bearers `tokens` holds valid on arrival,
    /// and counts the others.
    static func checkingUpstream(_ tokens: TokenEndpoint, refused: Refusals) async throws -> MockUpstream {
        try await MockUpstream { request in
            let authorization = request.header("Authorization")
            guard tokens.isValid(authorization: authorization), request.header("x-goog-api-key") == nil, request.header("api-key") == nil else {
                refused.add(authorization ?? "none")
                return .json(#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#, status: 401)
            }
            return .okChat
        }
    }

    /// A gateway whose config `yaml` makes for a token endpoint of its own and
    /// an upstream that checks every bearer; afterwards, no request went
    /// without a valid token and no token request left a connection open.
    static func withTokenGateway(
        lifetimeSeconds: Double, environment: [String: String] = [:], logCapture: LogCapture? = nil,
        yaml: (_ tokens: TokenEndpoint, _ upstream: MockUpstream) throws -> String,
        _ body: (_ gateway: GatewayHarness, _ tokens: TokenEndpoint, _ upstream: MockUpstream, _ refused: Refusals) async throws -> Void
    ) async throws {
        let tokens = try await TokenEndpoint(lifetimeSeconds: lifetimeSeconds)
        let refused = Refusals()
        let upstream = try await checkingUpstream(tokens, refused: refused)
        do {
            try await withGateway(yaml: try yaml(tokens, upstream), environment: environment, logCapture: logCapture) { gateway in
                try await body(gateway, tokens, upstream, refused)
            }
        } catch {
            await upstream.stop()
            await tokens.stop()
            throw error
        }
        #expect(refused.all.isEmpty, "sent without a valid token: \(refused.all.prefix(3))")
        #expect(tokens.server.connectionsOpen == 0)
        await upstream.stop()
        await tokens.stop()
    }

    /// `serviceAccountYAML` with a key file of `tokens`.
    static func serviceAccountYAML(_ tokens: TokenEndpoint, _ upstream: MockUpstream) throws -> String {
        serviceAccountYAML(upstream: upstream.baseURL, keyFile: try tokens.serviceAccountFile(in: try temporaryDirectory()).path)
    }

    @Test func serviceAccountTokensAreRenewedUnderContinuousTraffic() async throws {
        let capture = LogCapture(level: .debug)
        try await Self.withTokenGateway(lifetimeSeconds: 3, logCapture: capture, yaml: Self.serviceAccountYAML) { gateway, tokens, upstream, refused in
            // The first token is in hand before the listener accepts.
            #expect(tokens.issuedCount == 1)
            let stop = Date().addingTimeInterval(8)
            let seen = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var statuses: [Int] = []
                        while Date() < stop { statuses.append(try await TestClient.chat(port: gateway.port).status) }
                        return statuses
                    }
                }
                return try await group.reduce([], +)
            }
            #expect(seen.count > 100)
            #expect(seen.allSatisfy { $0 == 200 }, "statuses: \(Set(seen))")
            #expect(refused.all.isEmpty, "sent without a valid token: \(refused.all.prefix(3))")
            // 8 s of 3-second tokens renewed with 0.75 s left: at least 3 more.
            let bearers = Set(upstream.requests.compactMap { $0.header("Authorization") })
            #expect(bearers.count >= 4, "distinct tokens: \(bearers.count)")
            #expect(tokens.grants.allSatisfy { $0.refusal == nil }, "\(tokens.grants.compactMap(\.refusal))")
            #expect(tokens.grants.allSatisfy { $0.request.uri == "/token" && $0.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" })
            let metrics = gateway.gateway.state.metricsText()
            let successes = metrics.split(separator: "\n").first { $0.hasPrefix(#"llm_proxy_credential_refreshes_total{provider="vertex",result="success"}"#) }
            #expect(successes.flatMap { Double($0.split(separator: " ").last!) }.map { $0 >= 4 } == true, "\(successes ?? "none")")
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed").json()
            let provider = (health["providers"] as? [[String: Any]])?.first
            let credentials = provider?["credentials"] as? [String: Any]
            #expect(credentials?["type"] as? String == "google_service_account")
            #expect(credentials?["state"] as? String == "valid")
            #expect(credentials?["expires_at"] is String)
            #expect(provider?["status"] as? String == "up")
            // Nothing secret anywhere: not a token, not the private key, not the signed grant.
            let healthText = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed").text
            let logText = capture.entries.map(\.description).joined(separator: "\n")
            #expect(capture.entries.contains { $0.message == "provider token renewed" })
            for secret in bearers.map({ String($0.dropFirst(7)) }) + ["PRIVATE KEY", "MII", tokens.grants.first!.form["assertion"]!] {
                #expect(!healthText.contains(secret) && !logText.contains(secret) && !metrics.contains(secret), "\(secret.prefix(12))…")
            }
        }
    }

    @Test func aProviderGoesDownOnlyWhenItsTokenRunsOutAndComesBackWithTheNext() async throws {
        let capture = LogCapture()
        try await Self.withTokenGateway(lifetimeSeconds: 3, logCapture: capture, yaml: Self.serviceAccountYAML) { gateway, tokens, upstream, refused in
            #expect(try await TestClient.chat(port: gateway.port).status == 200)
            // The endpoint fails from just after the first token, which may be
            // sent until 2.7 s after it was asked for; its renewal fails from 2.25 s.
            try await Task.sleep(for: .milliseconds(100))
            tokens.setFailing(true)
            let failingSince = Date()
            let issuedAt = try #require(tokens.firstIssuedAt)
            var lastSuccess = failingSince
            var firstRefusal: Date?
            while Date().timeIntervalSince(failingSince) < 4.5 {
                let status = try await TestClient.chat(port: gateway.port).status
                if status == 200 { lastSuccess = Date() } else if firstRefusal == nil { firstRefusal = Date() }
                try await Task.sleep(for: .milliseconds(10))
            }
            // Down only at the token's end, not at the first failed renewal: still
            // served after that renewal (due 2.25 s after the token was asked
            // for, a moment before it was issued), refused only from about 2.7 s.
            let failedRenewal = try #require(tokens.grants.first { $0.refusal != nil }?.at)
            #expect(lastSuccess > failedRenewal, "last 200 at \(lastSuccess.timeIntervalSince(issuedAt)) s, the failed renewal at \(failedRenewal.timeIntervalSince(issuedAt)) s")
            #expect(firstRefusal.map { $0.timeIntervalSince(issuedAt) > 2.6 } == true, "first refusal at \(firstRefusal.map { $0.timeIntervalSince(issuedAt) } ?? -1) s")
            #expect(firstRefusal != nil, "the provider never went down")
            let down = try await TestClient.chat(port: gateway.port)
            #expect(down.status == 502 || down.status == 503, "\(down.status) \(down.text)")
            #expect(refused.all.isEmpty, "a request went without a valid token")
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed").json()
            let provider = (health["providers"] as? [[String: Any]])?.first
            let credentials = provider?["credentials"] as? [String: Any]
            #expect(provider?["status"] as? String == "down")
            #expect(credentials?["state"] as? String == "expired")
            #expect((credentials?["last_error"] as? String)?.contains("HTTP 500") == true, "\(credentials ?? [:])")
            #expect((credentials?["consecutive_failures"] as? Int ?? 0) >= 3)
            let metrics = gateway.gateway.state.metricsText()
            #expect(metrics.contains(#"llm_proxy_credential_refreshes_total{provider="vertex",result="failure"}"#))
            #expect(metrics.contains(#"llm_proxy_provider_health{provider="vertex"} 0"#))
            #expect(capture.entries.contains { $0.message == "provider token renewal failed" && $0.metadata["error"]?.contains("HTTP 500") == true })
            #expect(capture.entries.contains { $0.level == .error && $0.message.contains("token expired") })
            // The endpoint back: the next retry (at most 30 s away; here about 1-2 s) brings the provider back.
            tokens.setFailing(false)
            try await waitUntil(seconds: 10) { gateway.gateway.state.health.isUp("vertex") }
            #expect(gateway.gateway.state.health.isUp("vertex"))
            #expect(try await TestClient.chat(port: gateway.port).status == 200)
            #expect(capture.entries.contains { $0.message == "provider is up" })
        }
    }

    @Test func theMetadataServersTokenIsUsed() async throws {
        try await Self.withTokenGateway(lifetimeSeconds: 3600, yaml: { tokens, upstream in
            """
            health_check: {enabled: false}
            providers:
              - name: vertex-on-gke
                type: gemini
                api_base: \(upstream.baseURL)/v1/projects/p/locations/us-central1/endpoints/openapi
                credentials: {type: gcp_metadata, metadata_url: "\(tokens.baseURL)"}
                model_mapping: {demo: google/gemini-2.5-flash}
            master_keys:
              - {name: team, key: sk-test}
            """
        }) { gateway, tokens, upstream, _ in
            #expect(try await TestClient.chat(port: gateway.port).status == 200)
            let grant = try #require(tokens.grants.first)
            #expect(grant.request.method == "GET")
            #expect(grant.request.uri == "/computeMetadata/v1/instance/service-accounts/default/token")
            #expect(grant.request.header("Metadata-Flavor") == "Google")
            #expect(grant.refusal == nil)
            #expect(upstream.requests.first?.uri == "/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions")
            #expect(tokens.isValid(authorization: upstream.requests.first?.header("Authorization")))
        }
    }

    @Test func entraIDTokensReplaceTheAzureAPIKey() async throws {
        let secret = "entra~Secret+with/odd=chars"
        let capture = LogCapture(level: .debug)
        let environment = ["TENANT": "contoso-tenant", "SECRET": secret]
        try await Self.withTokenGateway(lifetimeSeconds: 3600, environment: environment, logCapture: capture, yaml: { tokens, upstream in
            """
            health_check: {enabled: false}
            providers:
              - name: azure-entra
                type: azure
                api_base: \(upstream.baseURL)
                credentials:
                  type: azure_client_credentials
                  tenant_id: ${TENANT}
                  client_id: app-123
                  client_secret: ${SECRET}
                  authority: "\(tokens.baseURL)/"
                model_mapping: {demo: gpt-4o-deployment}
            master_keys:
              - {name: team, key: sk-test}
            """
        }) { gateway, tokens, upstream, _ in
            #expect(try await TestClient.chat(port: gateway.port).status == 200)
            let grant = try #require(tokens.grants.first)
            #expect(grant.request.method == "POST")
            #expect(grant.request.uri == "/contoso-tenant/oauth2/v2.0/token")
            #expect(grant.form == [
                "grant_type": "client_credentials", "client_id": "app-123", "client_secret": secret,
                "scope": "https://cognitiveservices.azure.com/.default",
            ])
            let sent = try #require(upstream.requests.first)
            #expect(sent.uri.hasPrefix("/openai/deployments/gpt-4o-deployment/chat/completions?api-version="))
            #expect(tokens.isValid(authorization: sent.header("Authorization")))
            #expect(sent.header("api-key") == nil)
            let healthText = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed").text
            #expect(healthText.contains(#""type":"azure_client_credentials","state":"valid""#))
            let logText = capture.entries.map(\.description).joined(separator: "\n")
            let token = String(sent.header("Authorization")!.dropFirst(7))
            for text in [healthText, logText] {
                #expect(!text.contains("entra~Secret") && !text.contains(token))
            }
        }
    }

    @Test func aWaitForTheFirstTokenGivesUpAtItsBound() async throws {
        let hanging = try await MockUpstream { _ in .hang }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let renewer = CredentialRenewer(
            provider: "p", credentials: .gcpMetadata(metadata: try #require(UpstreamEndpoint(parsing: hanging.baseURL))),
            client: OneShotHTTPClient(group: group, tls: TLSContextCache(), liveObjects: LiveObjectCounts()), verifyTLS: true,
            status: CredentialStatus(), metrics: GatewayMetrics(registry: PrometheusCollectorRegistry()), logger: Logger(label: "test"),
            onChange: { _ in })
        renewer.start()
        let started = ContinuousClock.now
        await renewer.waitForFirstAnswer(timeout: .milliseconds(300))
        let waited = ContinuousClock.now - started
        #expect(waited < .seconds(2), "waited \(waited) for an endpoint that never answers")
        #expect(renewer.current == nil)
        renewer.stop()
        // The endpoint's close ends the token request in flight; then the task.
        await hanging.stop()
        await renewer.finished()
        try await group.shutdownGracefully()
    }

    @Test func aReloadKeepsTheTokenOfUnchangedCredentialsAndFetchesChangedOnesFirst() async throws {
        let tokens = try await TokenEndpoint(lifetimeSeconds: 3600)
        let refused = Refusals()
        let upstream = try await Self.checkingUpstream(tokens, refused: refused)
        let directory = try temporaryDirectory()
        let keyFile = try tokens.serviceAccountFile(in: directory)
        let configPath = directory.appendingPathComponent("config.yaml")
        try writeFile(Self.serviceAccountYAML(upstream: upstream.baseURL, keyFile: keyFile.path), to: configPath)
        let sources = SettingSources(flags: SettingOverrides(host: "127.0.0.1", port: 0), configPathFlag: configPath.path, environment: [:])
        var adjusted = try ConfigReloader.loadSnapshot(sources: sources, version: 1).config
        adjusted.server.eventLoops = 2
        var logger = LogCapture().logger
        logger.logLevel = .critical
        let gateway = try Gateway(config: RuntimeConfig(config: adjusted, version: 1, sourcePath: configPath.path), logger: logger)
        try await gateway.start()
        let reloader = ConfigReloader(gateway: gateway, sources: sources)
        #expect(try await TestClient.chat(port: gateway.port).status == 200)
        #expect(tokens.issuedCount == 1)
        // Unchanged credentials, another model: the same token serves.
        try writeFile(Self.serviceAccountYAML(upstream: upstream.baseURL, keyFile: keyFile.path).replacingOccurrences(of: "{demo: gemini-2.5-flash}", with: "{demo: gemini-2.5-pro}"), to: configPath)
        #expect(await reloader.reload(reason: "test"))
        #expect(try await TestClient.chat(port: gateway.port).status == 200)
        #expect(tokens.issuedCount == 1)
        #expect(upstream.requests.last?.bodyText.contains("gemini-2.5-pro") == true)
        // Another scope: a new token, in hand when the new config is installed.
        try writeFile(
            Self.serviceAccountYAML(upstream: upstream.baseURL, keyFile: keyFile.path)
                .replacingOccurrences(of: "file: \(keyFile.path)}", with: "file: \(keyFile.path), scope: \"https://www.googleapis.com/auth/cloud-platform\"}"),
            to: configPath)
        #expect(await reloader.reload(reason: "test"))
        #expect(tokens.issuedCount == 1, "the scope is the default one: the same credentials")
        let rotated = try tokens.serviceAccountFile(in: directory, name: "sa2.json")
        try writeFile(Self.serviceAccountYAML(upstream: upstream.baseURL, keyFile: rotated.path), to: configPath)
        #expect(await reloader.reload(reason: "test"))
        #expect(tokens.issuedCount == 1, "the same key in another file is the same identity")
        let otherAccount: [String: Any] = [
            "type": "service_account", "client_email": "other@p.iam.gserviceaccount.com", "private_key": tokens.privateKey.pkcs8PEMRepresentation,
            "token_uri": "\(tokens.baseURL)/token",
        ]
        try JSONSerialization.data(withJSONObject: otherAccount).write(to: rotated)
        #expect(await reloader.reload(reason: "test"))
        // The other account's grant is refused (its claims name another issuer), so the provider holds no token.
        #expect(tokens.grants.count == 2)
        #expect(tokens.grants.last?.refusal != nil)
        #expect(!gateway.state.health.isUp("vertex"))
        #expect(try await TestClient.chat(port: gateway.port).status != 200)
        #expect(refused.all.isEmpty, "no request went with the old account's token or none")
        await gateway.shutdown()
        await upstream.stop()
        await tokens.stop()
    }
}

/// Bearers an upstream refused (none valid at arrival).
final class Refusals: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ authorization: String) { list.withLock { $0.append(authorization) } }
    var all: [String] { list.withLock { $0 } }
}
