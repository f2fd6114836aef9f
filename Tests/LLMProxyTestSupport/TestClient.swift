import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A response as the test client saw it, with when each body part arrived.
package struct TestResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: [UInt8]
    /// Seconds after the request was sent, per body part.
    package var arrivals: [(seconds: Double, bytes: Int)]
    package var text: String { String(decoding: body, as: UTF8.self) }

    package func json() -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    package var errorCode: String? { (json()["error"] as? [String: Any])?["code"] as? String }
    package var errorMessage: String? { (json()["error"] as? [String: Any])?["message"] as? String }
    package var errorType: String? { (json()["error"] as? [String: Any])?["type"] as? String }
}

package struct TestClientError: Error, CustomStringConvertible {
    package var description: String
}

/// A minimal HTTP/1.1 client on NIO for tests: one request per connection,
/// streaming arrival times recorded.
package enum TestClient {
    package static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    package static func request(
        port: Int, method: HTTPMethod = .POST, path: String, headers: [(String, String)] = [], body: String? = nil,
        key: String? = "sk-test", timeout: TimeAmount = .seconds(10)
    ) async throws -> TestResponse {
        var allHeaders = HTTPHeaders(headers)
        allHeaders.add(name: "Host", value: "127.0.0.1:\(port)")
        if let key { allHeaders.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            allHeaders.add(name: "Content-Length", value: String(body.utf8.count))
            if !allHeaders.contains(name: "content-type") { allHeaders.add(name: "Content-Type", value: "application/json") }
        }
        let promise = group.next().makePromise(of: TestResponse.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(CollectingHandler(promise: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: allHeaders)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let timeoutTask = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(TestClientError(description: "no complete response within \(timeout)"))
            channel.close(promise: nil)
        }
        defer { timeoutTask.cancel() }
        let response = try await promise.futureResult.get()
        try? await channel.close().get()
        return response
    }

    package static func chat(port: Int, model: String = "demo", stream: Bool = false, key: String? = "sk-test",
                     extraHeaders: [(String, String)] = []) async throws -> TestResponse {
        let body = #"{"model":"\#(model)","stream":\#(stream),"messages":[{"role":"user","content":"hello"}]}"#
        return try await request(port: port, path: "/v1/chat/completions", headers: extraHeaders, body: body, key: key)
    }

    /// Sends raw bytes and returns what comes back until the server closes or `timeout`.
    package static func raw(port: Int, bytes: [UInt8], timeout: TimeAmount = .seconds(3), closeAfterSend: Bool = false) async throws -> [UInt8] {
        try await raw(port: port, pieces: [bytes], timeout: timeout, closeAfterSend: closeAfterSend)
    }

    /// Sends `pieces` as separate writes, `pause` apart, so the server reads them separately.
    package static func raw(port: Int, pieces: [[UInt8]], pause: Duration = .milliseconds(50), timeout: TimeAmount = .seconds(3),
                    closeAfterSend: Bool = false) async throws -> [UInt8] {
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RawCollector(promise: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        for (index, piece) in pieces.enumerated() {
            if index > 0 { try await Task.sleep(for: pause) }
            try await channel.writeAndFlush(ByteBuffer(bytes: piece)).get()
        }
        if closeAfterSend { try? await channel.close().get() }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    /// Opens a connection, sends `bytes`, and leaves it open; the caller closes it.
    package static func openStalled(port: Int, bytes: [UInt8]) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        return channel
    }
}

private final class CollectingHandler: ChannelInboundHandler {
    package typealias InboundIn = HTTPClientResponsePart
    package let promise: EventLoopPromise<TestResponse>
    package let start = DispatchTime.now()
    package var response = TestResponse(status: 0, headers: [:], body: [], arrivals: [])

    package init(promise: EventLoopPromise<TestResponse>) { self.promise = promise }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response.status = Int(head.status.code)
            response.headers = head.headers
        case .body(let buffer):
            response.body += buffer.readableBytesView
            response.arrivals.append((Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9, buffer.readableBytes))
        case .end:
            promise.succeed(response)
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        promise.fail(TestClientError(description: "connection closed before the response ended (status \(response.status), \(response.body.count) bytes: \(String(decoding: response.body, as: UTF8.self)))"))
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

private final class RawCollector: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package let promise: EventLoopPromise<[UInt8]>
    package var bytes: [UInt8] = []

    package init(promise: EventLoopPromise<[UInt8]>) { self.promise = promise }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
    }

    package func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(bytes)
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
