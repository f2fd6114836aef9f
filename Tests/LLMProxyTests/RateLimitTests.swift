@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import Testing

@Suite struct TokenBucketTests {
    let second: Int64 = 1_000_000_000

    @Test func burstThenRefuseThenRefill() {
        let bucket = TokenBucket(rate: 2, capacity: 2)
        var tat: Int64 = 0
        let now: Int64 = 100 * second
        var decisions: [TokenBucket.Decision] = []
        for _ in 0..<4 {
            let (next, decision) = bucket.take(tat: tat, now: now)
            tat = next
            decisions.append(decision)
        }
        #expect(decisions == [.allowed(remaining: 1), .allowed(remaining: 0), .refused(retryAfterSeconds: 1), .refused(retryAfterSeconds: 1)])
        // Half a second later one token has come back, and only one.
        let (afterRefill, refilled) = bucket.take(tat: tat, now: now + second / 2)
        #expect(refilled == .allowed(remaining: 0))
        #expect(bucket.take(tat: afterRefill, now: now + second / 2).decision == .refused(retryAfterSeconds: 1))
    }

    @Test func retryAfterCountsWholeSecondsUntilAToken() {
        let bucket = TokenBucket(rate: 0.1, capacity: 1)  // one request per 10 s
        let (tat, first) = bucket.take(tat: 0, now: 0)
        #expect(first == .allowed(remaining: 0))
        #expect(bucket.take(tat: tat, now: 0).decision == .refused(retryAfterSeconds: 10))
        #expect(bucket.take(tat: tat, now: 7 * second + 1).decision == .refused(retryAfterSeconds: 3))
        #expect(bucket.take(tat: tat, now: 10 * second).decision == .allowed(remaining: 0))
    }

    @Test func idleTimeDoesNotBankMoreThanTheBurst() {
        let bucket = TokenBucket(rate: 10, capacity: 3)
        var tat: Int64 = 0
        var allowed = 0
        for _ in 0..<10 {
            let (next, decision) = bucket.take(tat: tat, now: 1000 * second)
            tat = next
            if case .allowed = decision { allowed += 1 }
        }
        #expect(allowed == 3)
    }

    @Test func tokensPerMinuteAdmitsUntilSpentThenWaits() {
        let limiter = KeyRateLimiter(keyName: "k", limits: RateLimitConfig(requestsPerSecond: 1000, burstSize: 1000, tokensPerMinute: 600))
        let now: Int64 = 50 * second
        #expect(limiter.admit(now: now) == .allowed(remainingRequests: 999))
        limiter.charge(tokens: 599, now: now)
        #expect(limiter.admit(now: now) == .allowed(remainingRequests: 998))  // one token left
        limiter.charge(tokens: 1, now: now)
        // Spent: refused until one token has come back (0.1 s at 10 tokens/s).
        #expect(limiter.admit(now: now) == .refused(retryAfterSeconds: 1, reason: "tokens_per_minute (600) used up"))
        limiter.charge(tokens: 300, now: now)
        guard case .refused(let retryAfter, let reason) = limiter.admit(now: now) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(retryAfter == 31)  // 300 tokens of debt plus one token, at 10 tokens/s
        #expect(reason.contains("tokens_per_minute"))
        guard case .allowed = limiter.admit(now: now + 31 * second) else {
            Issue.record("expected the key to pass again after Retry-After")
            return
        }
    }

    @Test func bucketsSurviveReloadForUnchangedKeys() {
        let registry = RateLimiterRegistry()
        let limits = RateLimitConfig(requestsPerSecond: 1, burstSize: 1, tokensPerMinute: nil)
        let first = registry.limiters(for: [MasterKey(name: "a", key: "x", rateLimit: limits, allowedModels: nil)])
        let second = registry.limiters(for: [
            MasterKey(name: "a", key: "x", rateLimit: limits, allowedModels: nil),
            MasterKey(name: "b", key: "y", rateLimit: nil, allowedModels: nil),
        ])
        #expect(first[0] === second[0])
        #expect(second[1] == nil)
        let changed = registry.limiters(for: [MasterKey(name: "a", key: "x", rateLimit: RateLimitConfig(requestsPerSecond: 5, burstSize: 5, tokensPerMinute: nil), allowedModels: nil)])
        #expect(changed[0] !== first[0])
    }
}

@Suite struct UsageObserverTests {
    @Test func readsUsageFromOneBody() {
        var observer = UsageObserver()
        observer.observe(ByteBuffer(string: #"{"choices":[],"usage":{"prompt_tokens":12, "completion_tokens" : 9,"total_tokens":21}}"#))
        #expect(observer.usage == .init(prompt: 12, completion: 9, total: 21))
    }

    @Test func readsFieldsSplitAcrossParts() {
        let text = #"data: {"choices":[]}"# + "\n\n" + #"data: {"usage":{"prompt_tokens":1234,"completion_tokens":56,"total_tokens":1290}}"# + "\n\ndata: [DONE]\n\n"
        for cut in stride(from: 1, to: text.utf8.count - 1, by: 3) {
            var observer = UsageObserver()
            let bytes = Array(text.utf8)
            observer.observe(ByteBuffer(bytes: bytes[0..<cut]))
            observer.observe(ByteBuffer(bytes: bytes[cut...]))
            #expect(observer.usage == .init(prompt: 1234, completion: 56, total: 1290), "cut at \(cut)")
        }
        // Tiny parts (and empty ones), as a slow SSE upstream may send them:
        // a field spans many parts.
        for size in [1, 2, 5, 17] {
            var observer = UsageObserver()
            let bytes = Array(text.utf8)
            for start in stride(from: 0, to: bytes.count, by: size) {
                observer.observe(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
                observer.observe(ByteBuffer())
            }
            #expect(observer.usage == .init(prompt: 1234, completion: 56, total: 1290), "parts of \(size) bytes")
        }
    }

    @Test func readsGeminiUsageMetadata() {
        var observer = UsageObserver()
        observer.observe(ByteBuffer(string: #"{"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}}"#))
        #expect(observer.usage == .init(prompt: 4, completion: 6, total: 10))
    }

    @Test func readsGeminiFieldsSplitAtEveryByteAmidTextFullOfKs() {
        let text = #"{"candidates":[{"content":{"parts":[{"text":"kk k\"kTokenCount\" kkk_tokens"}]}}],"#
            + #""usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":13,"totalTokenCount":20},"modelVersion":"gemini-k"}"#
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            var observer = UsageObserver()
            observer.observe(ByteBuffer(bytes: bytes[0..<cut]))
            observer.observe(ByteBuffer(bytes: bytes[cut...]))
            #expect(observer.usage == .init(prompt: 7, completion: 13, total: 20), "cut at \(cut)")
        }
    }

    @Test func fieldNamesInsideStringsAreNotUsage() {
        var observer = UsageObserver()
        observer.observe(ByteBuffer(string: #"{"text":"say \"total_tokens\": 5 and \"promptTokenCount\":6","n_tokens":3,"x_tokens":4}"#))
        #expect(observer.usage == nil)
    }

    @Test func noUsageIsNil() {
        var observer = UsageObserver()
        observer.observe(ByteBuffer(string: #"{"text":"total_tokens is a word here"}"#))
        #expect(observer.usage == nil)
    }
}
