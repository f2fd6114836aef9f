import Foundation
@testable import LLMProxyCore
import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import Testing

/// Limits shared by replicas through a real `redis-server`: the RESP pieces
/// without sockets, then gateways sharing one store, and the store failing
/// in each of the ways `on_unavailable` is for.
@Suite(.serialized) struct SharedStateTests {
    // MARK: - Without sockets

    @Test func repliesAreDecodedWhereverTheReadsSplitThem() throws {
        let wire = "+OK\r\n-WRONGPASS invalid username-password pair\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*3\r\n:1\r\n:9\r\n*1\r\n$0\r\n\r\n*-1\r\n"
        let expected: [RESPValue] = [
            .simpleString("OK"), .error("WRONGPASS invalid username-password pair"), .integer(42), .bulkString(Array("hello".utf8)),
            .bulkString(nil), .array([.integer(1), .integer(9), .array([.bulkString([])])]), .array(nil),
        ]
        let bytes = Array(wire.utf8)
        for split in 0...bytes.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var values: [RESPValue] = []
            while let value = try decoder.decode(&buffer) { values.append(value) }
            buffer.writeBytes(bytes[split...])
            while let value = try decoder.decode(&buffer) { values.append(value) }
            #expect(values == expected, "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
        for bad in ["?x\r\n", ":abc\r\n", "$99999999999\r\n", "$3\r\nabcd\r\n"] {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(string: bad)
            #expect(throws: RESPProtocolError.self, "\(bad)") { _ = try decoder.decode(&buffer) }
        }
        var command = ByteBuffer()
        RESPCommand.encode(["GET", "k"], into: &command)
        #expect(String(buffer: command) == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    }

    @Test func redisURLsAreParsedAndPrintedWithoutTheirPassword() {
        let full = RedisURL.parse("rediss://user:p%40ss+w@cache.example:6380/2").url
        #expect(full == RedisURL(tls: true, host: "cache.example", port: 6380, user: "user", password: "p@ss+w", database: 2))
        #expect(full?.description == "rediss://user@cache.example:6380/2")
        #expect(RedisURL.parse("redis://:secret@10.0.0.1").url == RedisURL(host: "10.0.0.1", password: "secret"))
        #expect(RedisURL.parse("redis://:secret@10.0.0.1").url?.description.contains("secret") == false)
        #expect(RedisURL.parse("redis://[::1]:7000").url?.host == "::1")
        for bad in ["http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/db"] {
            #expect(RedisURL.parse(bad).url == nil, "\(bad)")
        }
    }

    @Test func sharedStateIsValidatedWithLineAndColumn() throws {
        func problems(_ shared: String) -> String {
            configErrors("providers: [{name: m, type: mock}]\nshared_state: \(shared)\n")
        }
        #expect(problems("{redis_url: \"http://:hunter2@x\"}").contains("c.yaml:2:"))
        #expect(!problems("{redis_url: \"http://:hunter2@x\"}").contains("hunter2"), "never the URL, which may hold the password")
        #expect(problems("{redis_url: \"redis://x\", on_unavailable: maybe}").contains("must be local, deny or allow"))
        #expect(problems("{redis_url: \"redis://x\", timeout_ms: 0}").contains("timeout_ms"))
        #expect(problems("{key_prefix: x}").contains("redis_url is missing"))
        #expect(problems("{redis_url: \"redis://x\", tls: true}").contains("tls"))
        let config = try ConfigParser.parse(
            "providers: [{name: m, type: mock}]\nshared_state: {redis_url: \"redis://r:6379/1\", key_prefix: \"p:\", on_unavailable: deny, timeout_ms: 20}\n",
            file: "c.yaml")
        #expect(config.sharedState?.url.database == 1 && config.sharedState?.keyPrefix == "p:")
        #expect(config.sharedState?.onUnavailable == .deny && config.sharedState?.timeoutMilliseconds == 20)
    }

    @Test func theConnectionReconnectsWithBackoff() {
        var machine = RedisConnectionStateMachine()
        #expect(machine.start() == .connect)
        #expect(machine.connected() == .sendHandshake)
        #expect(machine.connectionLost("WRONGPASS") == .failPendingAndReconnect(after: .milliseconds(50), reason: "WRONGPASS"))
        #expect(machine.reconnectTimerFired() == .connect)
        #expect(machine.connectionLost("refused") == .failPendingAndReconnect(after: .milliseconds(100), reason: "refused"))
        #expect(machine.connectionLost("again") == .none, "already waiting")
        _ = machine.reconnectTimerFired()
        _ = machine.connected()
        #expect(machine.handshakeSucceeded() == .ready && machine.isReady && machine.failures == 0)
        #expect(RedisConnectionStateMachine.backoff(failures: 20) == .seconds(2))
        #expect(machine.stop() == .close && machine.reconnectTimerFired() == .none)
    }

    @Test func leasesAreForRequestOnlyLimitsAndKeepABurstReserve() {
        func plan(_ rate: Double, _ burst: Double, tokens: Int? = nil) -> SharedLimitRequest.LeasePlan? {
            SharedLimitRequest(key: KeyRateLimiter(keyName: "k", limits: RateLimitConfig(requestsPerSecond: rate, burstSize: burst, tokensPerMinute: tokens)), model: nil).lease
        }
        #expect(plan(5, 10) == nil, "small limits ask per request")
        #expect(plan(1000, 2000) == .init(size: 50, lifetimeNanoseconds: 50_000_000))
        #expect(plan(100, 20) == .init(size: 2, lifetimeNanoseconds: 20_000_000), "a tenth of the burst's refill at most")
        #expect(plan(10_000_000, 10_000_000)?.size == 100)
        #expect(plan(1000, 2000, tokens: 100_000) == nil, "a token budget asks per request")
        // With a plan, every take runs against the burst less the lease lifetime's refill.
        let limits = SharedLimitRequest(key: KeyRateLimiter(keyName: "k", limits: RateLimitConfig(requestsPerSecond: 1000, burstSize: 2000, tokensPerMinute: nil)), model: nil)
        let arguments = limits.admitArguments(prefix: "p:", leasing: true)
        #expect(arguments[4] == "1000" && arguments[5] == String((1_999_000_000 - 50_000_000) / 1000) && arguments.last == "50")
        #expect(limits.admitArguments(prefix: "p:").last == "1")
        #expect(limits.decision(from: .array([.integer(1), .integer(7), .integer(0), .integer(50)])) == .allowed(remaining: 7, granted: 50))
    }

    // MARK: - With redis-server
    // MARK: - With redis-server

    static func yaml(redis: String, rate: Double = 5, burst: Int = 10, tokensPerMinute: Int? = nil, onUnavailable: String = "local",
                     timeoutMs: Int = 100, upstream: String? = nil) -> String {
        let tpm = tokensPerMinute.map { ", tokens_per_minute: \($0)" } ?? ""
        let provider = upstream.map { "{name: up, api_base: \"\($0)/v1\", api_key: sk-up}" } ?? "{name: mock, type: mock}"
        return """
            providers: [\(provider)]
            master_keys:
              - {name: team, key: sk-team, rate_limit: {requests_per_second: \(rate), burst_size: \(burst)\(tpm)}}
            health_check: {enabled: false}
            shared_state: {redis_url: "\(redis)", timeout_ms: \(timeoutMs), on_unavailable: \(onUnavailable)}
            """
    }

    /// Every loop connected: a request on a loop still connecting is decided
    /// by `on_unavailable`, without the store (a race a loaded run lost).
    static func waitConnected(_ gateway: GatewayHarness) async throws {
        try await waitUntil(seconds: 5) {
            guard let summary = gateway.gateway.state.sharedState.summary else { return false }
            return summary.connected == summary.loops && summary.loops > 0
        }
    }

    /// `count` chats spread over `ports`, as fast as they go; how many were admitted.
    static func burst(_ count: Int, over ports: [Int], key: String = "sk-team") async throws -> (admitted: Int, refused: Int, other: [Int]) {
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask { try await TestClient.chat(port: ports[index % ports.count], key: key).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        return (statuses.filter { $0 == 200 }.count, statuses.filter { $0 == 429 }.count, statuses.filter { $0 != 200 && $0 != 429 })
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func twoGatewaysAdmitOneLimitsWorth() async throws {
        let redis = try await RedisServer()
        defer { redis.stop() }
        let yaml = Self.yaml(redis: redis.url)
        try await withGateway(yaml: yaml) { first in
            try await withGateway(yaml: yaml) { second in
                try await Self.waitConnected(first)
                try await Self.waitConnected(second)
                // A burst: one burst_size (10) for both, not 10 each.
                let start = Date()
                let burst = try await Self.burst(40, over: [first.port, second.port])
                let elapsed = Date().timeIntervalSince(start)
                let ceiling = 10 + Int((5 * elapsed).rounded(.up))
                print("shared burst: \(burst.admitted) admitted, \(burst.refused) refused of 40 over two gateways in \(String(format: "%.2f", elapsed)) s (one limit allows \(ceiling))")
                #expect(burst.other.isEmpty, "\(burst.other)")
                #expect(burst.admitted >= 10 && burst.admitted <= ceiling, "admitted \(burst.admitted), one limit allows \(ceiling)")
                // Several seconds at ~4x the rate: about rate × time, for both together.
                try await Task.sleep(for: .seconds(2))  // the burst refills (10 at 5/s)
                var admitted = 0
                let sustainedStart = Date()
                while Date().timeIntervalSince(sustainedStart) < 3 {
                    admitted += try await Self.burst(8, over: [first.port, second.port]).admitted
                    try await Task.sleep(for: .milliseconds(100))
                }
                let seconds = Date().timeIntervalSince(sustainedStart)
                let allowed = 10 + Int((5 * seconds).rounded(.up))
                print("shared sustained: \(admitted) admitted over \(String(format: "%.2f", seconds)) s (one limit allows \(allowed))")
                #expect(admitted <= allowed && admitted >= Int(5 * seconds) - 2, "admitted \(admitted), one limit allows \(allowed)")
                let refusal = try await TestClient.chat(port: second.port, key: "sk-team")
                if refusal.status == 429 {
                    #expect(refusal.headers.first(name: "retry-after") != nil && refusal.errorCode == "rate_limit_exceeded")
                }
                let metrics = try await TestClient.request(port: first.port, method: .GET, path: "/metrics", key: nil)
                #expect(metrics.text.contains("llm_proxy_shared_state_errors_total 0"))
            }
        }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func leasedLimitsStillAdmitNoMoreThanOneProcess() async throws {
        let redis = try await RedisServer()
        defer { redis.stop() }
        // 200/s, burst 200: leases of 10, spendable for 50 ms, against a burst of 190.
        let yaml = Self.yaml(redis: redis.url, rate: 200, burst: 200)
        try await withGateway(yaml: yaml) { first in
            try await withGateway(yaml: yaml) { second in
                try await Self.waitConnected(first)
                try await Self.waitConnected(second)
                try redis.cli("CONFIG", "RESETSTAT")
                let start = Date()
                let burst = try await Self.burst(600, over: [first.port, second.port])
                let elapsed = Date().timeIntervalSince(start)
                let ceiling = 200 + Int((200 * elapsed).rounded(.up))
                let stats = try redis.cli("INFO", "commandstats")
                let calls = stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:") }
                    .flatMap { $0.split(separator: "=").dropFirst().first?.split(separator: ",").first }.flatMap { Int($0) } ?? -1
                print("leased burst: \(burst.admitted) admitted of 600 in \(String(format: "%.2f", elapsed)) s (one limit allows \(ceiling)), \(calls) store calls")
                #expect(burst.other.isEmpty)
                #expect(burst.admitted <= ceiling && burst.admitted >= 150, "admitted \(burst.admitted), one limit allows \(ceiling)")
                #expect(calls > 0 && calls < burst.admitted, "leases save round trips: \(calls) calls for \(burst.admitted) admitted")
            }
        }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func tokensPerMinuteIsOneBudget() async throws {
        let redis = try await RedisServer()
        defer { redis.stop() }
        let upstream = try await MockUpstream { _ in
            .json(#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#)
        }
        let yaml = Self.yaml(redis: redis.url, rate: 100, burst: 100, tokensPerMinute: 10, upstream: upstream.baseURL)
        try await withGateway(yaml: yaml) { first in
            try await withGateway(yaml: yaml) { second in
                try await Self.waitConnected(first)
                try await Self.waitConnected(second)
                // 8 tokens through the first, 8 through the second: the budget (10) is spent for both.
                #expect(try await TestClient.chat(port: first.port, key: "sk-team").status == 200)
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await TestClient.chat(port: second.port, key: "sk-team").status == 200)
                try await Task.sleep(for: .milliseconds(200))
                let refused = try await TestClient.chat(port: first.port, key: "sk-team")
                #expect(refused.status == 429 && refused.errorMessage?.contains("tokens_per_minute (10) used up") == true, "\(refused.text)")
            }
        }
        await upstream.stop()
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func aStoreThatDiesIsDecidedByOnUnavailable() async throws {
        for mode in ["local", "deny", "allow"] {
            let redis = try await RedisServer()
            defer { redis.stop() }
            try await withGateway(yaml: Self.yaml(redis: redis.url, rate: 1, burst: 3, onUnavailable: mode)) { gateway in
                try await Self.waitConnected(gateway)
                #expect(try await TestClient.chat(port: gateway.port, key: "sk-team").status == 200)
                redis.kill()
                let statuses = try await (0..<6).asyncMap { _ in try await TestClient.chat(port: gateway.port, key: "sk-team").status }
                switch mode {
                case "local":
                    // The replica's own bucket, which the shared one spared: its burst of 3, then 429.
                    #expect(statuses.filter { $0 == 200 }.count == 3 && statuses.filter { $0 == 429 }.count == 3, "\(statuses)")
                case "deny":
                    #expect(statuses == Array(repeating: 503, count: 6), "\(statuses)")
                    let denied = try await TestClient.request(
                        port: gateway.port, path: "/v1/messages", headers: [("x-api-key", "sk-team")],
                        body: #"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#, key: nil)
                    #expect(denied.status == 503 && (denied.json()["type"] as? String) == "error", "Anthropic's shape: \(denied.text)")
                default:
                    #expect(statuses == Array(repeating: 200, count: 6), "\(statuses)")
                }
                let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil)
                let errors = metrics.text.split(separator: "\n").first { $0.hasPrefix("llm_proxy_shared_state_errors_total ") }
                #expect((errors.flatMap { Double($0.split(separator: " ")[1]) } ?? 0) >= 6, "\(String(describing: errors))")
                let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: "sk-team")
                let shared = health.json()["shared_state"] as? [String: Any]
                #expect(shared?["status"] as? String == "unavailable" && shared?["last_error"] is String, "\(health.text)")
            }
        }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func aPausedStoreCostsAtMostTheTimeoutAndARestartedOneIsSharedAgain() async throws {
        let redis = try await RedisServer()
        defer { redis.stop() }
        // Calls that timed out still run in the store once it wakes (a limit
        // never loosens by it): the burst leaves room for them.
        let yaml = Self.yaml(redis: redis.url, rate: 2, burst: 8, onUnavailable: "allow", timeoutMs: 80)
        try await withGateway(yaml: yaml) { first in
            try await withGateway(yaml: yaml) { second in
                try await Self.waitConnected(first)
                try await Self.waitConnected(second)
                try redis.pause(seconds: 1.5)
                try await Task.sleep(for: .milliseconds(100))
                // Answered within the timeout (plus the request itself), by `allow`.
                for _ in 0..<5 {
                    let start = Date()
                    let response = try await TestClient.chat(port: first.port, key: "sk-team")
                    let elapsed = Date().timeIntervalSince(start)
                    #expect(response.status == 200 && elapsed < 0.75, "\(response.status) after \(elapsed) s (the store sleeps 1.5 s)")
                }
                // A client that leaves while the store is slow: its late reply finds nobody.
                _ = try? await TestClient.raw(port: first.port, bytes: Array(FailurePathLeakTests.request(model: "demo").utf8.map { $0 }), timeout: .milliseconds(20), closeAfterSend: true)
                try await Task.sleep(for: .seconds(2))
                // Restarted (its buckets gone): shared again, without restarting either gateway.
                redis.kill()
                try await Task.sleep(for: .milliseconds(300))
                try await redis.start()
                try await waitUntil(seconds: 5) {
                    (first.gateway.state.sharedState.summary?.connected ?? 0) > 0 && (second.gateway.state.sharedState.summary?.connected ?? 0) > 0
                }
                // Let every loop reconnect (each has its own connection).
                try await Task.sleep(for: .milliseconds(2500))
                let burst = try await Self.burst(24, over: [first.port, second.port])
                #expect(burst.admitted >= 8 && burst.admitted <= 10, "one burst of 8 for both after the restart: \(burst)")
                #expect(first.gateway.state.liveObjects.snapshot.exchanges == 0)
            }
        }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func responseAffinityIsSharedByReplicas() async throws {
        let redis = try await RedisServer()
        defer { redis.stop() }
        let providers = [ResponseAffinityTests.StoringProvider(name: "a"), ResponseAffinityTests.StoringProvider(name: "b")]
        var upstreams: [(String, MockUpstream)] = []
        for provider in providers { upstreams.append((provider.name, try await MockUpstream { provider.answer($0) })) }
        func requestCount() -> Int { upstreams.reduce(0) { $0 + $1.1.requests.count } }
        let yaml = ResponseAffinityTests.yaml(upstreams) + "\nshared_state: {redis_url: \"\(redis.url)\", timeout_ms: 200}\n"
        try await withGateway(yaml: yaml) { first in
            try await withGateway(yaml: yaml) { second in
                try await Self.waitConnected(first)
                try await Self.waitConnected(second)
                var created: [String] = []
                for _ in 0..<4 {
                    let response = try await TestClient.request(port: first.port, path: "/v1/responses", body: #"{"model":"gpt-5","input":"hi"}"#, key: "sk-k")
                    created.append(try #require(response.text.firstMatch(of: /resp_[ab]_[0-9]+/).map { String($0.output) }))
                }
                try await Task.sleep(for: .milliseconds(200))
                // The other replica never saw them, yet each call is one request, to the creator.
                for id in created {
                    var before = requestCount()
                    let followUp = try await TestClient.request(
                        port: second.port, path: "/v1/responses", body: #"{"model":"gpt-5","previous_response_id":"\#(id)","input":"more"}"#, key: "sk-k")
                    #expect(followUp.status == 200 && requestCount() == before + 1, "\(id): \(followUp.text)")
                    try await Task.sleep(for: .milliseconds(100))
                    before = requestCount()
                    let retrieved = try await TestClient.request(port: second.port, method: .GET, path: "/v1/responses/\(id)", key: "sk-k")
                    #expect(retrieved.status == 200 && retrieved.text.contains(id) && requestCount() == before + 1)
                }
                let ttl = Int(try redis.cli("TTL", "llm-proxy:resp:\(created[0])").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                #expect(ttl > 29 * 24 * 3600, "kept with a TTL: \(ttl)")
                // Deleted through one replica: gone for the other too.
                let deleted = try await TestClient.request(port: second.port, method: .DELETE, path: "/v1/responses/\(created[1])", key: "sk-k")
                #expect(deleted.status == 200)
                try await Task.sleep(for: .milliseconds(100))
                let exists = try redis.cli("EXISTS", "llm-proxy:resp:\(created[1])").trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(exists == "0")
            }
        }
        for upstream in upstreams { await upstream.1.stop() }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func aStoreOverTLSAndAReloadToAnotherStore() async throws {
        let secure = try await RedisServer(password: "tls-pass", tls: true)
        defer { secure.stop() }
        let plain = try await RedisServer()
        defer { plain.stop() }
        // rediss:// with a self-signed certificate: verify_ssl off, as for a provider.
        let yaml = Self.yaml(redis: secure.url, rate: 1, burst: 2) + "\nverify_ssl: false\n"
        try await withGateway(yaml: yaml) { gateway in
            try await Self.waitConnected(gateway)
            #expect(try await TestClient.chat(port: gateway.port, key: "sk-team").status == 200)
            let keys = try secure.cli("KEYS", "*")
            #expect(keys.contains("llm-proxy:rl:{team}:req"), "\(keys)")
            // A reload to another store: connected there, and its limit is the one that counts.
            let moved = try ConfigLoader.load(text: Self.yaml(redis: plain.url, rate: 1, burst: 2), file: "test.yaml", environment: [:])
            gateway.gateway.install(RuntimeConfig(config: moved, version: 3, sourcePath: "test.yaml"))
            try await waitUntil(seconds: 5) {
                gateway.gateway.state.sharedState.summary?.url.contains("\(plain.port)") == true && (gateway.gateway.state.sharedState.summary?.connected ?? 0) > 0
            }
            try await Task.sleep(for: .milliseconds(200))
            let statuses = try await (0..<4).asyncMap { _ in try await TestClient.chat(port: gateway.port, key: "sk-team").status }
            #expect(statuses.filter { $0 == 200 }.count == 2, "the new store's full burst of 2: \(statuses)")
            let plainKeys = try plain.cli("KEYS", "*")
            #expect(plainKeys.contains("llm-proxy:rl:{team}:req"))
        }
        // Verified (the default), the self-signed store is refused, and the error says why.
        try await withGateway(yaml: Self.yaml(redis: secure.url, onUnavailable: "allow")) { gateway in
            try await waitUntil(seconds: 5) { gateway.gateway.state.sharedState.summary?.lastError != nil }
            let error = gateway.gateway.state.sharedState.summary?.lastError ?? ""
            #expect(error.lowercased().contains("certificate") || error.contains("TLS") || error.contains("handshake"), "\(error)")
            #expect(try await TestClient.chat(port: gateway.port, key: "sk-team").status == 200)
        }
    }

    @Test(.enabled(if: RedisServer.isAvailable, "needs redis-server (installed by .ci/run)"))
    func aWrongPasswordIsReportedAndNoSecretIsLogged() async throws {
        let redis = try await RedisServer(password: "redis-pass-s3cret")
        defer { redis.stop() }
        let capture = LogCapture()
        let wrong = "redis://:wrong-pass-s3cret@127.0.0.1:\(redis.port)"
        try await withGateway(yaml: Self.yaml(redis: wrong, onUnavailable: "allow"), environment: ["LOG_LEVEL": "debug"], logCapture: capture) { gateway in
            try await waitUntil(seconds: 5) { gateway.gateway.state.sharedState.summary?.lastError != nil }
            #expect(try await TestClient.chat(port: gateway.port, key: "sk-team").status == 200)
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: "sk-team")
            let shared = try #require(health.json()["shared_state"] as? [String: Any])
            #expect((shared["last_error"] as? String)?.contains("WRONGPASS") == true || (shared["last_error"] as? String)?.contains("AUTH") == true, "\(shared)")
            #expect(!health.text.contains("s3cret"))
        }
        try await withGateway(yaml: Self.yaml(redis: redis.url), environment: ["LOG_LEVEL": "debug"], logCapture: capture) { gateway in
            try await Self.waitConnected(gateway)
            #expect(try await TestClient.chat(port: gateway.port, key: "sk-team").status == 200)
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: "sk-team")
            #expect((health.json()["shared_state"] as? [String: Any])?["status"] as? String == "connected")
            #expect(!health.text.contains("s3cret"))
        }
        let logged = capture.entries.map(\.description).joined(separator: "\n")
        #expect(logged.contains("shared state"), "the store's state is logged")
        #expect(!logged.contains("s3cret") && !logged.contains("sk-team"), "no password or master key in a log line")
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
