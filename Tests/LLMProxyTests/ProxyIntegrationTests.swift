import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import LLMProxyTestSupport
import NIOCore
import Testing

/// The gateway in-process against mock upstreams on ephemeral ports, over
/// real HTTP.
@Suite(.serialized) struct ProxyIntegrationTests {
    @Test func injectsProviderKeyAndForwardsBodyByteForByteExceptModel() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML(
            [("a", upstream.baseURL, 1)], mapping: "      gpt-4o: gpt-4o-2024-08-06\n", extra: "provider_suffix: Proxy\n")) { gateway in
            let body = "{ \"z_last\" :true,\n  \"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"model\":\"nested\"}}}],\n\t\"model\" : \"Proxy/gpt-4o\" , \"messages\":[{\"role\":\"user\",\"content\":\"héllo \\u00e9 😀 \\\"model\\\"\"}],\"x-vendor\":{\"a\":[1,2.5e-3,null]} }"
            let response = try await TestClient.request(
                port: gateway.port, path: "/v1/chat/completions",
                headers: [("OpenAI-Beta", "assistants=v2"), ("api-key", "sk-test"), ("x-goog-api-key", "sk-test"), ("Connection", "keep-alive")],
                body: body)
            #expect(response.status == 200)
            #expect(response.json()["id"] as? String == "up-1")
            let received = try #require(upstream.requests.first)
            #expect(received.uri == "/v1/chat/completions")
            #expect(received.header("authorization") == "Bearer sk-upstream-a")
            #expect(received.header("api-key") == nil && received.header("x-goog-api-key") == nil)
            #expect(!received.headers.contains { $0.1.contains("sk-test") })
            #expect(received.header("openai-beta") == "assistants=v2")
            #expect(received.header("host") == "127.0.0.1:\(upstream.port)")
            #expect(received.bodyText == body.replacingOccurrences(of: "\"Proxy/gpt-4o\"", with: "\"gpt-4o-2024-08-06\""))
        }
        await upstream.stop()
    }

    @Test func aBodyArrivingInSeveralReadsIsForwardedWhole() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], mapping: "      demo: up-model\n")) { gateway in
            let body = #"{"messages":[{"role":"user","content":"part one, "#
                + String(repeating: "x", count: 3000) + #", part two"}],"model":"demo","n":1}"#
            let bytes = Array(body.utf8)
            let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
            let pieces = [Array(head.utf8) + bytes[0..<40], Array(bytes[40..<2000]), Array(bytes[2000...])]
            let answer = String(decoding: try await TestClient.raw(port: gateway.port, pieces: pieces), as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            let received = try #require(upstream.requests.first)
            #expect(received.bodyText == body.replacingOccurrences(of: #""model":"demo""#, with: #""model":"up-model""#))
        }
        await upstream.stop()
    }

    @Test func acceptsEveryClientKeyLocationAndRejectsWrongKeys() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            let body = #"{"model":"m","messages":[]}"#
            for headers in [[("api-key", "sk-test")], [("x-goog-api-key", "sk-test")], [("Authorization", "bearer sk-test")]] {
                let response = try await TestClient.request(port: gateway.port, path: "/v1/chat/completions", headers: headers, body: body, key: nil)
                #expect(response.status == 200, "\(headers)")
            }
            let viaQuery = try await TestClient.request(port: gateway.port, path: "/v1/chat/completions?key=sk-test", body: body, key: nil)
            #expect(viaQuery.status == 200)
            #expect(upstream.requests.allSatisfy { !$0.uri.contains("key=") })
            let missing = try await TestClient.request(port: gateway.port, path: "/v1/chat/completions", body: body, key: nil)
            #expect(missing.status == 401 && missing.errorCode == "invalid_api_key" && missing.errorType == "authentication_error")
            let wrong = try await TestClient.request(port: gateway.port, path: "/v1/chat/completions", body: body, key: "sk-wrong")
            #expect(wrong.status == 401 && !wrong.text.contains("sk-wrong"))
            #expect(upstream.requests.count == 4)
        }
        await upstream.stop()
    }

    @Test func streamsChunksAsTheyArrive() async throws {
        let chunks = (0..<5).map { "data: {\"i\":\($0)}\n\n" } + ["data: [DONE]\n\n"]
        let upstream = try await MockUpstream { _ in .stream(chunks: chunks, interval: .milliseconds(150), cut: false) }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            let response = try await TestClient.chat(port: gateway.port, stream: true)
            #expect(response.status == 200)
            #expect(response.text == chunks.joined())
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            #expect(response.headers["cache-control"] == ["no-cache"])
            #expect(response.headers["x-accel-buffering"] == ["no"])
            // Six chunks 150 ms apart: a buffering relay would deliver them at once, the first
            // no sooner than the last is sent (0.75 s). (0.12 s was too tight for a loaded CI run.)
            let first = try #require(response.arrivals.first?.seconds)
            let last = try #require(response.arrivals.last?.seconds)
            #expect(first < 0.5, "first chunk after \(first) s")
            #expect(last - first > 0.6, "spread \(last - first) s")
            #expect(response.arrivals.count >= 5)
        }
        await upstream.stop()
    }

    @Test func cutStreamGetsInterruptedEventNeverACleanEnd() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("clean-end")
                ? .stream(chunks: ["data: {\"i\":0}\n\n"], interval: .milliseconds(10), cut: false)
                : .stream(chunks: ["data: {\"i\":0}\n\n", "data: {\"i\":1}\n\n"], interval: .milliseconds(20), cut: true)
        }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            let cut = try await TestClient.chat(port: gateway.port, stream: true)
            #expect(cut.text.hasPrefix("data: {\"i\":0}\n\ndata: {\"i\":1}\n\n"))
            #expect(cut.text.contains("\"code\":\"upstream_stream_interrupted\""))
            #expect(cut.text.hasSuffix("}\n\n"))
            let noDone = try await TestClient.chat(port: gateway.port, model: "clean-end", stream: true)
            #expect(noDone.text.hasPrefix("data: {\"i\":0}\n\ndata: {\"error\""))
            #expect(noDone.text.contains("upstream_stream_interrupted"))
            // No retry once bytes went out.
            #expect(upstream.requests.count == 2)
        }
        await upstream.stop()
    }

    @Test func clientDisconnectCancelsUpstreamBeforeAndAfterHeaders() async throws {
        let upstream = try await MockUpstream { request in
            request.bodyText.contains("hang") ? .hang
                : .stream(chunks: (0..<100).map { "data: {\"i\":\($0)}\n\n" }, interval: .milliseconds(50), cut: false)
        }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            for model in ["hang", "streaming"] {
                let before = upstream.closedWhileBusy
                let body = #"{"model":"\#(model)","stream":true}"#
                let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                let channel = try await TestClient.openStalled(port: gateway.port, bytes: Array(request.utf8))
                try await Task.sleep(for: .milliseconds(300))
                #expect(upstream.requests.count >= 1)
                try await channel.close()
                try await waitUntil(seconds: 2) { upstream.closedWhileBusy == before + 1 }
                #expect(upstream.closedWhileBusy == before + 1, "\(model): upstream connection not closed after client left")
            }
        }
        await upstream.stop()
    }

    @Test func reusesUpstreamConnections() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {event_loops: 1}\n")) { gateway in
            for _ in 0..<10 {
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 200)
            }
            #expect(upstream.requests.count == 10)
            #expect(upstream.connectionsOpened == 1)
        }
        await upstream.stop()
    }

    @Test func upstreamClosingConnectionsIsHandled() async throws {
        let upstream = try await MockUpstream { _ in
            .respond(status: 200, headers: [("Content-Type", "application/json"), ("Connection", "close")], body: "{}")
        }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {event_loops: 1}\n")) { gateway in
            for _ in 0..<3 {
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 200 && response.text == "{}")
            }
            #expect(upstream.connectionsOpened == 3)
        }
        await upstream.stop()
    }

    @Test func retriesOnTheNextCandidateBeforeAnyByteIsSent() async throws {
        let failing = try await MockUpstream { _ in .json(#"{"error":{"message":"overloaded"}}"#, status: 503) }
        let healthy = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("bad", failing.baseURL, 100), ("good", healthy.baseURL, 1)])) { gateway in
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 200)
            #expect(failing.requests.count == 1 && healthy.requests.count == 1)
            #expect(healthy.requests[0].header("authorization") == "Bearer sk-upstream-good")
        }

        // One attempt only: the upstream's own error passes through unchanged.
        try await withGateway(yaml: providersYAML([("bad", failing.baseURL, 1)], extra: "retry: {max_attempts: 1}\n")) { single in
            let passthrough = try await TestClient.chat(port: single.port)
            #expect(passthrough.status == 503 && passthrough.text == #"{"error":{"message":"overloaded"}}"#)
        }
        await failing.stop()
        await healthy.stop()
    }

    @Test func modelsOfOneProviderSetShareOneRoundRobinAndKeepTheirMappings() async throws {
        let a = try await MockUpstream { request in .json(#"{"served_by":"a","model_sent":"\#(request.bodyText.contains("\"x-up\"") ? "x" : "y")"}"#) }
        let b = try await MockUpstream { request in .json(#"{"served_by":"b","model_sent":"\#(request.bodyText.contains("\"x-up\"") ? "x" : "y")"}"#) }
        try await withGateway(yaml: providersYAML(
            [("a", a.baseURL, 3), ("b", b.baseURL, 1)], mapping: "      gpt-4o: x-up\n      demo: y-up\n",
            extra: "server: {event_loops: 1}\n")) { gateway in
            var order = ""
            for index in 0..<8 {
                let model = index % 2 == 0 ? "gpt-4o" : "demo"
                let response = try await TestClient.chat(port: gateway.port, model: model)
                #expect(response.status == 200)
                #expect(response.text.contains(model == "gpt-4o" ? #""model_sent":"x""# : #""model_sent":"y""#))
                order += response.text.contains(#""served_by":"a""#) ? "a" : "b"
            }
            // One 3:1 sequence (a a b a) across both models; two separate ones
            // would give a a a a b b a a.
            #expect(order == "aabaaaba")
        }
        await a.stop()
        await b.stop()
    }

    @Test func closedPortIsRetriedAndAllFailingGives502() async throws {
        let healthy = try await MockUpstream()
        let closed = try ClosedPort()
        defer { closed.close() }
        let closedPort = closed.port
        try await withGateway(yaml: providersYAML([("dead", "http://127.0.0.1:\(closedPort)", 1), ("live", healthy.baseURL, 1)])) { gateway in
            for _ in 0..<6 {
                let response = try await TestClient.chat(port: gateway.port)
                #expect(response.status == 200)
            }
        }
        try await withGateway(yaml: providersYAML([("dead", "http://127.0.0.1:\(closedPort)", 1)])) { allDead in
            let response = try await TestClient.chat(port: allDead.port)
            #expect(response.status == 502 && response.errorCode == "upstream_unavailable" && response.errorType == "api_error")
            #expect(!response.text.contains("sk-upstream"))
        }
        await healthy.stop()
    }

    @Test func requestTimeoutGives504() async throws {
        let upstream = try await MockUpstream { _ in .hang }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {request_timeout_seconds: 0.3}\n")) { gateway in
            let started = Date()
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 504 && response.errorCode == "upstream_timeout")
            #expect(Date().timeIntervalSince(started) < 2)
        }
        await upstream.stop()
    }

    @Test func timeoutMidStreamEndsWithInterruptedEvent() async throws {
        let upstream = try await MockUpstream { _ in .stream(chunks: (0..<50).map { "data: \($0)\n\n" }, interval: .milliseconds(100), cut: false) }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {request_timeout_seconds: 0.35}\n")) { gateway in
            let response = try await TestClient.chat(port: gateway.port, stream: true)
            #expect(response.text.hasPrefix("data: 0\n\n"))
            #expect(response.text.contains("upstream_stream_interrupted"))
        }
        await upstream.stop()
    }

    @Test func everyClientErrorStatusHasOpenAIShape() async throws {
        let upstream = try await MockUpstream { _ in .json(#"{"error":{"message":"bad param","type":"invalid_request_error"}}"#, status: 400) }
        let yaml = providersYAML([("a", upstream.baseURL, 1)], mapping: "      gpt-4o: x\n      demo: y\n", extra: """
            server: {max_body_bytes: 1000}

            """).replacingOccurrences(of: "    key: sk-test\n", with: "    key: sk-test\n  - name: Narrow\n    key: sk-narrow\n    allowed_models: [\"demo\"]\n")
        try await withGateway(yaml: yaml) { gateway in
            let port = gateway.port
            func post(_ body: String, key: String = "sk-test", path: String = "/v1/chat/completions") async throws -> TestResponse {
                try await TestClient.request(port: port, path: path, body: body, key: key)
            }
            var response = try await post("not json")
            #expect(response.status == 400 && response.errorType == "invalid_request_error")
            response = try await post(#"{"messages":[]}"#)
            #expect(response.status == 400 && response.json()["error"].map { ($0 as? [String: Any])?["param"] as? String } == "model")
            response = try await post(#"{"model":42}"#)
            #expect(response.status == 400)
            response = try await post(#"{"model":"gpt-4o","model":"demo"}"#)
            #expect(response.status == 400)
            response = try await post(#"{"model":"gpt-4o"}"#, key: "sk-narrow")
            #expect(response.status == 403 && response.errorCode == "model_not_allowed" && response.errorType == "permission_error")
            response = try await post(#"{"model":"unknown-model"}"#)
            #expect(response.status == 404 && response.errorCode == "model_not_found")
            response = try await post(#"{"model":"gpt-4o"}"#, path: "/v1/nothing-here")
            #expect(response.status == 404 && response.errorType == "invalid_request_error")
            response = try await post("{\"model\":\"gpt-4o\",\"pad\":\"" + String(repeating: "x", count: 2000) + "\"}")
            #expect(response.status == 413 && response.errorCode == "request_too_large")
            // The upstream's own 400 passes through unchanged.
            response = try await post(#"{"model":"demo"}"#, key: "sk-narrow")
            #expect(response.status == 400 && response.text == #"{"error":{"message":"bad param","type":"invalid_request_error"}}"#)
            let getChat = try await TestClient.request(port: port, method: .GET, path: "/v1/chat/completions")
            #expect(getChat.status == 405)
        }
        await upstream.stop()
    }

    @Test func oversizedChunkedBodyIsRefusedWithoutBufferingIt() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {max_body_bytes: 1024}\n")) { gateway in
            var request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked\r\n\r\n"
            for _ in 0..<4 { request += "200\r\n" + String(repeating: "a", count: 512) + "\r\n" }
            let reply = String(decoding: try await TestClient.raw(port: gateway.port, bytes: Array(request.utf8)), as: UTF8.self)
            #expect(reply.hasPrefix("HTTP/1.1 413"))
            #expect(reply.contains("request_too_large"))
            #expect(upstream.requests.isEmpty)
        }
        await upstream.stop()
    }

    @Test func garbageAndHugeHeadersGet4xxAndTheGatewayKeepsServing() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            let garbage = try await TestClient.raw(port: gateway.port, bytes: Array("\u{0}\u{1}GARBAGE \r\n\r\n".utf8) + (0..<200).map { UInt8($0) })
            let garbageReply = String(decoding: garbage, as: UTF8.self)
            #expect(garbageReply.hasPrefix("HTTP/1.1 400"))
            #expect(garbageReply.contains(#""type":"invalid_request_error""#) && garbageReply.contains("Connection: close"))
            let huge = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 200_000) + "\r\n\r\n"
            let hugeReply = try await TestClient.raw(port: gateway.port, bytes: Array(huge.utf8))
            #expect(String(decoding: hugeReply, as: UTF8.self).hasPrefix("HTTP/1.1 4"))
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 200)
        }
        await upstream.stop()
    }

    @Test func headGetsNoBodyAndHTTP10StreamsEndByClosing() async throws {
        let upstream = try await MockUpstream { _ in .stream(chunks: ["data: {\"a\":1}\n\n", "data: [DONE]\n\n"], interval: .milliseconds(20), cut: false) }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            // A HEAD answer without its body, then the next request on the same connection.
            let twoRequests = "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let replies = String(decoding: try await TestClient.raw(port: gateway.port, bytes: Array(twoRequests.utf8)), as: UTF8.self)
            let parts = replies.components(separatedBy: "HTTP/1.1 ")
            #expect(parts.count == 3 && parts[1].hasPrefix("405") && parts[1].hasSuffix("\r\n\r\n"))
            #expect(parts[2].hasPrefix("200 OK") && parts[2].hasSuffix(#"{"status":"ok"}"#))
            // HTTP/1.0 has no chunked encoding: the stream is delimited by closing.
            let body = #"{"model":"demo","stream":true,"messages":[]}"#
            let request = "POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            let streamed = String(decoding: try await TestClient.raw(port: gateway.port, bytes: Array(request.utf8)), as: UTF8.self)
            #expect(streamed.hasPrefix("HTTP/1.0 200 OK\r\n") && streamed.contains("Connection: close\r\n"))
            #expect(!streamed.contains("Transfer-Encoding"))
            #expect(streamed.hasSuffix("\r\n\r\ndata: {\"a\":1}\n\ndata: [DONE]\n\n"))
        }
        await upstream.stop()
    }

    @Test func stalledUploadsDoNotDelayOtherClients() async throws {
        let upstream = try await MockUpstream()
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {client_idle_timeout_seconds: 1}\n")) { gateway in
            var stalled: [any Channel] = []
            for index in 0..<200 {
                let partial = index % 2 == 0
                    ? "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: 500\r\n\r\n{\"model\":"
                    : "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow"
                stalled.append(try await TestClient.openStalled(port: gateway.port, bytes: Array(partial.utf8)))
            }
            let started = Date()
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 200)
            #expect(Date().timeIntervalSince(started) < 0.5)
            // Stalled clients are timed out (408 or closed) rather than held forever.
            try await waitUntil(seconds: 4) { stalled.allSatisfy { !$0.isActive } }
            #expect(stalled.allSatisfy { !$0.isActive })
            for channel in stalled { try? await channel.close() }
        }
        await upstream.stop()
    }

    @Test func providersByHostNameAndByAddressBothConnect() async throws {
        // An IP literal is connected to directly; a name goes through NIO's resolver.
        let literal = UpstreamPoolKey(endpoint: UpstreamEndpoint(parsing: "http://127.0.0.1:8080")!, verifyTLS: true)
        let named = UpstreamPoolKey(endpoint: UpstreamEndpoint(parsing: "http://localhost:8080")!, verifyTLS: true)
        #expect(literal.literalAddress?.port == 8080 && named.literalAddress == nil)
        let upstream = try await MockUpstream()
        let byName = upstream.baseURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        try await withGateway(yaml: providersYAML([("a", byName, 1)])) { gateway in
            let response = try await TestClient.chat(port: gateway.port)
            #expect(response.status == 200)
            #expect(upstream.requests.count == 1)
        }
        await upstream.stop()
    }

    @Test func idleTimeoutClosesQuietConnectionsButNeverALongStream() async throws {
        // Four events 600 ms apart: the stream outlasts the 1 s idle timeout
        // while the client sends nothing.
        let events = (0..<4).map { "data: {\"n\":\($0)}\n\n" } + ["data: [DONE]\n\n"]
        let upstream = try await MockUpstream { _ in .stream(chunks: events, interval: .milliseconds(600), cut: false) }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)], extra: "server: {client_idle_timeout_seconds: 1}\n")) { gateway in
            // A connection that never sends a byte is closed.
            let quiet = try await TestClient.openStalled(port: gateway.port, bytes: [])
            let body = #"{"model":"demo","stream":true,"messages":[]}"#
            let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            let started = Date()
            // Kept alive: what comes back ends only when the gateway closes the idle connection.
            let reply = String(decoding: try await TestClient.raw(port: gateway.port, bytes: Array(request.utf8), timeout: .seconds(8)), as: UTF8.self)
            let elapsed = Date().timeIntervalSince(started)
            #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(reply.contains("data: {\"n\":3}") && reply.hasSuffix("data: [DONE]\n\n\r\n0\r\n\r\n"))
            #expect(!reply.contains("error"))
            // Closed about a second after the stream ended (~2.4 s), not by the client's 8 s timeout.
            #expect(elapsed > 3.0 && elapsed < 6.0, "closed after \(elapsed) s")
            #expect(!quiet.isActive)
            try? await quiet.close()
        }
        await upstream.stop()
    }

    @Test func mockProviderServesChatStreamsEmbeddingsAndModels() async throws {
        try await withGateway(yaml: """
            providers:
              - name: mock
                type: mock
                model_mapping: {demo: demo, gpt-4o-mini: mock-gpt}
            master_keys: [{name: k, key: sk-test}]
            """) { gateway in
            let chat = try await TestClient.chat(port: gateway.port)
            #expect(chat.status == 200)
            let message = ((chat.json()["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
            #expect(message == "hello")
            let stream = try await TestClient.chat(port: gateway.port, model: "gpt-4o-mini", stream: true)
            #expect(stream.text.hasSuffix("data: [DONE]\n\n") && stream.text.contains("\"usage\""))
            #expect(stream.text.components(separatedBy: "data: ").count > 4)
            #expect(stream.headers["cache-control"] == ["no-cache"] && stream.headers["x-accel-buffering"] == ["no"])
            let embeddings = try await TestClient.request(port: gateway.port, path: "/v1/embeddings", body: #"{"model":"demo","input":["a","b"]}"#)
            #expect((embeddings.json()["data"] as? [Any])?.count == 2)
            let models = try await TestClient.request(port: gateway.port, method: .GET, path: "/v1/models")
            #expect((models.json()["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["demo", "gpt-4o-mini"])
            let health = try await TestClient.request(port: gateway.port, method: .GET, path: "/health", key: nil)
            #expect(health.status == 200 && health.text == #"{"status":"ok"}"#)
            let ready = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/ready", key: nil)
            #expect(ready.status == 200)
            let detailed = try await TestClient.request(port: gateway.port, method: .GET, path: "/health/detailed", key: nil)
            #expect(detailed.status == 401)
            // The mock's usage counts like an upstream's: chat "hello" 2+2 tokens, embeddings "a","b" 1+1.
            let metrics = try await TestClient.request(port: gateway.port, method: .GET, path: "/metrics", key: nil).text
            #expect(metrics.contains(#"llm_proxy_tokens_total{model="demo",provider="mock",token_type="total_tokens"} 6"#))
            #expect(metrics.contains(#"llm_proxy_tokens_total{model="gpt-4o-mini",provider="mock",token_type="prompt_tokens"} 2"#))
        }
    }
}

@Suite(.serialized) struct PipeliningTests {
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let upstream = try await MockUpstream { request in
            // The first answer is the slowest: order must still hold.
            request.bodyText.contains("one") ? .stream(chunks: ["data: one\n\n", "data: [DONE]\n\n"], interval: .milliseconds(150), cut: false)
                : .json(request.bodyText.contains("two") ? #"{"n":"two"}"# : #"{"n":"three"}"#)
        }
        try await withGateway(yaml: providersYAML([("a", upstream.baseURL, 1)])) { gateway in
            var wire = ""
            for (index, word) in ["one", "two", "three"].enumerated() {
                let body = #"{"model":"m","messages":[{"role":"user","content":"\#(word)"}]}"#
                wire += "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\nContent-Length: \(body.utf8.count)\r\n"
                wire += index == 2 ? "Connection: close\r\n\r\n" : "\r\n"
                wire += body
            }
            let reply = String(decoding: try await TestClient.raw(port: gateway.port, bytes: Array(wire.utf8)), as: UTF8.self)
            let one = try #require(reply.range(of: "data: one"))
            let two = try #require(reply.range(of: #"{"n":"two"}"#))
            let three = try #require(reply.range(of: #"{"n":"three"}"#))
            #expect(one.lowerBound < two.lowerBound && two.lowerBound < three.lowerBound)
            #expect(reply.components(separatedBy: "HTTP/1.1 200").count == 4)
        }
        await upstream.stop()
    }
}
