import Foundation
import LLMProxyCore
import Logging
import NIOCore
import Synchronization

/// Keeps one provider's token fresh: a background task runs its
/// `TokenRenewal`, asks the token endpoint when that says so, and publishes
/// each token (or its withdrawal) through `onChange`. The request path only
/// reads what was published to its loop; it never waits for a renewal.
final class CredentialRenewer: Sendable {
    let provider: String
    let credentials: ProviderCredentials
    private let client: OneShotHTTPClient
    let verifyTLS: Bool
    private let status: CredentialStatus
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let onChange: @Sendable (CredentialRenewer) -> Void
    private let token = Mutex<LoopCredential?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Resumed once the first fetch has an answer (a token or a failure), or
    /// when a wait for it gives up.
    private let firstAnswer = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// How long one token request may take, connect included.
    static let requestTimeout = TimeAmount.seconds(10)

    init(
        provider: String, credentials: ProviderCredentials, client: OneShotHTTPClient, verifyTLS: Bool, status: CredentialStatus,
        metrics: GatewayMetrics, logger: Logger, onChange: @escaping @Sendable (CredentialRenewer) -> Void
    ) {
        self.provider = provider
        self.credentials = credentials
        self.client = client
        self.verifyTLS = verifyTLS
        self.status = status
        self.metrics = metrics
        self.logger = logger
        self.onChange = onChange
    }

    /// The token a request may carry now, if any.
    var current: LoopCredential? {
        token.withLock { token in token.flatMap { NIODeadline.now() < $0.usableUntil ? $0 : nil } }
    }

    func start() {
        task.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in await run() }
        }
    }

    func stop() {
        task.withLock { $0?.cancel() }
        markFirstAnswer()
    }

    /// Once the task has seen `stop` (a token request in flight ends first).
    func finished() async {
        await task.withLock { $0 }?.value
    }

    /// Returns once the first fetch has been answered, or after `timeout`.
    func waitForFirstAnswer(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.firstAnswer.withLock { state in
                        if state.done { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                // Past the wait, the waiter is let go (the group waits for both).
                if (try? await Task.sleep(for: timeout)) != nil { self.markFirstAnswer() }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func markFirstAnswer() {
        let waiters = firstAnswer.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.done else { return [] }
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func run() async {
        var renewal = TokenRenewal(now: .now())
        status.update(provider, type: credentials.typeName) { $0.state = .pending }
        while !Task.isCancelled {
            switch renewal.next(now: .now()) {
            case .fetch:
                let sentAt = NIODeadline.now()
                do {
                    let answer = try await fetch()
                    guard !Task.isCancelled else { break }
                    renewal.fetched(token: answer.accessToken, lifetimeSeconds: answer.lifetimeSeconds, sentAt: sentAt)
                    publish(LoopCredential(authorization: "Bearer " + answer.accessToken, usableUntil: renewal.usableUntil!))
                    let expiresAt = Date(timeIntervalSinceNow: Double((sentAt + .nanoseconds(Int64(answer.lifetimeSeconds * 1e9)) - .now()).nanoseconds) / 1e9)
                    status.update(provider, type: credentials.typeName) { entry in
                        entry.state = .valid
                        entry.expiresAt = expiresAt
                        entry.lastRefreshAt = Date()
                        entry.consecutiveFailures = 0
                    }
                    metrics.credentialRefresh(provider, success: true)
                    logger.debug("provider token renewed", metadata: ["provider": "\(provider)", "expires_in_seconds": "\(Int(answer.lifetimeSeconds))"])
                } catch {
                    guard !Task.isCancelled else { break }
                    renewal.failed(now: .now())
                    let reason = Self.describe(error)
                    let stillValid = renewal.token != nil
                    status.update(provider, type: credentials.typeName) { entry in
                        entry.lastError = reason
                        entry.consecutiveFailures = renewal.consecutiveFailures
                    }
                    metrics.credentialRefresh(provider, success: false)
                    let retry = TokenRenewal.retryDelay(afterFailures: renewal.consecutiveFailures)
                    logger.warning("provider token renewal failed", metadata: [
                        "provider": "\(provider)", "credentials": "\(credentials.typeName)", "error": "\(reason)",
                        "retry_in_ms": "\(retry.nanoseconds / 1_000_000)", "token_in_hand": "\(stillValid)",
                    ])
                }
                markFirstAnswer()
            case .withdraw:
                publish(nil)
                status.update(provider, type: credentials.typeName) { $0.state = .expired }
                logger.error("provider token expired before a renewal succeeded; the provider is down until one does", metadata: ["provider": "\(provider)"])
            case .sleep(let until):
                let wait = until - .now()
                if wait.nanoseconds > 0 { try? await Task.sleep(for: .nanoseconds(wait.nanoseconds)) }
            }
        }
    }

    private func publish(_ credential: LoopCredential?) {
        token.withLock { $0 = credential }
        onChange(self)
    }

    private func fetch() async throws -> TokenGrant.Token {
        let grant = try TokenGrant.request(for: credentials, now: Int(Date().timeIntervalSince1970))
        let response = try await client.send(
            method: grant.method == .get ? .GET : .POST, endpoint: grant.endpoint, target: grant.target, headers: grant.headers, body: grant.body,
            verifyTLS: verifyTLS, timeout: Self.requestTimeout)
        return try TokenGrant.token(status: response.status, body: response.body)
    }

    /// An error's words for logs and `/health/detailed`: ours and NIO's carry
    /// no secret (the request's body, which holds one, is never described).
    private static func describe(_ error: any Error) -> String {
        if let problem = error as? TokenGrant.Problem { return problem.description }
        return "the token request failed: \(error)"
    }
}
