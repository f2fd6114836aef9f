import Foundation
@testable import LLMProxyCore
@testable import LLMProxyServer
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The client handler on an `EmbeddedChannel`: bytes in, bytes out, no
/// sockets, no sleeps. The mock provider answers in process, so a whole
/// proxied request runs here too.
@Suite struct GatewayHandlerEmbeddedTests {
    static let yaml = """
        server: {max_body_bytes: 200}
        providers:
          - name: mock
            type: mock
        master_keys:
          - name: k
            key: sk-test
        health_check: {enabled: false}
        """

    /// A channel with NIO's request decoder and the gateway's handler.
    static func channel(yaml: String = yaml) throws -> (EmbeddedChannel, LoopContext) {
        let config = try ConfigLoader.load(text: yaml, file: "test.yaml", environment: [:])
        let snapshot = RuntimeConfig(config: config, version: 1, sourcePath: "test.yaml")
        let state = GatewayState(config: snapshot)
        let channel = EmbeddedChannel()
        var logger = Logger(label: "embedded")
        logger.logLevel = .critical
        let loop = LoopContext(
            eventLoop: channel.eventLoop, config: snapshot, limiters: state.rateLimiters.limiters(for: config.masterKeys),
            tls: TLSContextCache(), logger: logger, metrics: state.metrics, liveObjects: state.liveObjects, healthReporter: nil)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.pipeline.syncOperations.addHandler(GatewayHandler(loop: loop, gateway: state))
        // Connected, as an accepted client connection is.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        return (channel, loop)
    }

    /// Everything written so far, after the loop ran its flushes.
    static func output(_ channel: EmbeddedChannel) throws -> String {
        channel.embeddedEventLoop.run()
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        return text
    }

    static func post(_ path: String, _ body: String, key: String? = "sk-test", extra: String = "") -> String {
        "POST \(path) HTTP/1.1\r\nHost: g\r\n" + (key.map { "Authorization: Bearer \($0)\r\n" } ?? "")
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)"
    }

    @Test func healthAndAProxiedCallToTheInProcessMock() throws {
        let (channel, _) = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: "GET /health HTTP/1.1\r\nHost: g\r\n\r\n"))
        let health = try Self.output(channel)
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n") && health.contains("x-request-id: ") && health.hasSuffix("{\"status\":\"ok\"}"))

        try channel.writeInbound(ByteBuffer(string: Self.post("/v1/chat/completions", #"{"model":"demo","messages":[{"role":"user","content":"hi there"}]}"#)))
        let chat = try Self.output(channel)
        #expect(chat.hasPrefix("HTTP/1.1 200 OK\r\n") && chat.contains("\"chat.completion\"") && chat.contains("hi there"))

        try channel.writeInbound(ByteBuffer(string: Self.post("/v1/chat/completions", #"{"model":"demo","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#)))
        let stream = try Self.output(channel)
        #expect(stream.contains("Content-Type: text/event-stream") && stream.contains("Transfer-Encoding: chunked"))
        #expect(stream.contains("data: [DONE]") && !stream.contains("upstream_stream_interrupted"))
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let (channel, _) = try Self.channel()
        let first = Self.post("/v1/embeddings", #"{"model":"demo","input":"x"}"#)
        try channel.writeInbound(ByteBuffer(string: first + "GET /health HTTP/1.1\r\nHost: g\r\n\r\n" + "GET /nope HTTP/1.1\r\nHost: g\r\n\r\n"))
        let text = try Self.output(channel)
        let embedding = try #require(text.range(of: "\"object\":\"list\""))
        let health = try #require(text.range(of: "{\"status\":\"ok\"}"))
        let notFound = try #require(text.range(of: "HTTP/1.1 404"))
        #expect(embedding.lowerBound < health.lowerBound && health.lowerBound < notFound.lowerBound)
        _ = try channel.finish()
    }

    @Test func refusalsAreInTheRequestsDialect() throws {
        let (channel, _) = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: Self.post("/v1/chat/completions", #"{"model":"demo"}"#, key: "sk-wrong")))
        let openAI = try Self.output(channel)
        #expect(openAI.hasPrefix("HTTP/1.1 401") && openAI.contains(#""type":"authentication_error""#) && openAI.contains(#""code":"invalid_api_key""#))
        try channel.writeInbound(ByteBuffer(string: Self.post("/v1beta/models/gemini-2.5-pro:generateContent", #"{"contents":[]}"#, key: nil)))
        let google = try Self.output(channel)
        #expect(google.hasPrefix("HTTP/1.1 401") && google.contains(#""status":"UNAUTHENTICATED""#) && google.contains(#""code":401"#))
        // A model no gemini provider serves, on Google's path.
        try channel.writeInbound(ByteBuffer(string: Self.post("/v1beta/models/demo:generateContent", #"{"contents":[]}"#)))
        let noGemini = try Self.output(channel)
        #expect(noGemini.hasPrefix("HTTP/1.1 404") && noGemini.contains(#""status":"NOT_FOUND""#))
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test func aBodyOverTheLimitIs413AndClosesTheConnection() throws {
        let (channel, _) = try Self.channel()
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked\r\n\r\n"
        let chunk = String(repeating: "x", count: 150)
        try channel.writeInbound(ByteBuffer(string: head + "96\r\n\(chunk)\r\n"))
        #expect(try Self.output(channel).isEmpty)
        try channel.writeInbound(ByteBuffer(string: "96\r\n\(chunk)\r\n"))
        let text = try Self.output(channel)
        #expect(text.hasPrefix("HTTP/1.1 413") && text.contains("Connection: close") && text.contains("request_too_large"))
        #expect(!channel.isActive)
    }

    @Test func garbageGetsA400AndTheConnectionCloses() throws {
        let (channel, _) = try Self.channel()
        do {
            try channel.writeInbound(ByteBuffer(string: "NOT HTTP AT ALL\r\n\r\n"))
        } catch {
            // NIO's decoder reports its error through the pipeline too.
        }
        let text = try Self.output(channel)
        #expect(text.hasPrefix("HTTP/1.1 400") && text.contains("not valid HTTP/1.1"))
        #expect(!channel.isActive)
    }

    @Test func drainClosesAnIdleConnectionAndABusyOneAfterItsAnswer() throws {
        let (idle, idleLoop) = try Self.channel()
        idleLoop.beginDraining()
        idle.embeddedEventLoop.run()
        #expect(!idle.isActive)

        let (busy, busyLoop) = try Self.channel()
        // A head whose body has not arrived: the request is in flight.
        let body = #"{"model":"demo","messages":[]}"#
        let request = Self.post("/v1/chat/completions", body)
        try busy.writeInbound(ByteBuffer(string: String(request.dropLast(body.utf8.count))))
        busyLoop.beginDraining()
        #expect(busy.isActive)
        try busy.writeInbound(ByteBuffer(string: body))
        let text = try Self.output(busy)
        #expect(text.hasPrefix("HTTP/1.1 200") && text.contains("Connection: close"))
        #expect(!busy.isActive)
    }
}
