// The least a NIO HTTP/1.1 reverse proxy does per request, with NIO's own
// decoders in both directions (as llm-proxy keeps them), heads written as
// bytes and one event loop: a floor for what llm-proxy's request path can
// cost (README, "Added latency at one connection"). A measuring tool, not
// a proxy: no limits, no errors answered, one upstream, POST only.
//
//   cd scripts/nio-floor && swift build -c release --static-swift-stdlib
//   .build/release/nio-floor LISTEN_PORT UPSTREAM_PORT
//
// The response parser is told each request's method, as llm-proxy's
// UpstreamResponseDecoder does, instead of watching writes.
import NIOCore
import NIOHTTP1
import NIOPosix

let upstreamPort = Int(CommandLine.arguments[2])!
let listenPort = Int(CommandLine.arguments[1])!

struct RespDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart
    let parser = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop)
    static let postHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
    func expectPOST() { parser.write(data: .head(Self.postHead)) }
    func decoderAdded(context: ChannelHandlerContext) { parser.decoderAdded(context: context) }
    func decoderRemoved(context: ChannelHandlerContext) { parser.decoderRemoved(context: context) }
    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState { try parser.decode(context: context, buffer: &buffer) }
    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState { try parser.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF) }
}

let requestLineEnd = " HTTP/1.1\r\nHost: 127.0.0.1:\(upstreamPort)\r\n"

/// ASCII case-insensitive equality with a lowercase literal, over the name's bytes.
func isName(_ name: String, _ lower: StaticString) -> Bool {
    let count = lower.utf8CodeUnitCount
    guard name.utf8.count == count else { return false }
    let literal = lower.utf8Start
    return name.utf8.withContiguousStorageIfAvailable { bytes in
        for index in 0..<count where bytes[index] | 0x20 != literal[index] && bytes[index] != literal[index] { return false }
        return true
    } ?? (name.lowercased() == String(describing: lower))
}

extension ByteBuffer {
    mutating func writeHeader(_ name: String, _ value: String) {
        writeString(name)
        writeStaticString(": ")
        writeString(value)
        writeStaticString("\r\n")
    }

    mutating func writeDecimal(_ value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var value = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0
            _ = writeBytes(UnsafeRawBufferPointer(rebasing: buffer[(20 - count)...]))
        }
    }
}

final class Pool {
    var idle: [UpstreamHandler] = []
}

final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = ByteBuffer
    var context: ChannelHandlerContext?
    var client: ClientHandler?
    let pool: Pool
    let decoder: RespDecoder
    init(pool: Pool, decoder: RespDecoder) { self.pool = pool; self.decoder = decoder }
    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func send(_ buffer: ByteBuffer, for client: ClientHandler) {
        self.client = client
        decoder.expectPOST()
        context!.writeAndFlush(NIOAny(buffer), promise: nil)
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): client?.relayHead(head)
        case .body(let buffer): client?.relayBody(buffer)
        case .end:
            let c = client
            client = nil
            pool.idle.append(self)
            c?.relayEnd()
        }
    }
}

final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer
    let pool: Pool
    var context: ChannelHandlerContext?
    var body = ByteBuffer()
    var head: HTTPRequestHead?
    init(pool: Pool) { self.pool = pool }
    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h; body = ByteBuffer()
        case .body(var b): body.writeBuffer(&b)
        case .end: forward(context)
        }
    }
    func forward(_ context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: 512 + body.readableBytes)
        out.writeStaticString("POST ")
        out.writeString(head!.uri)
        out.writeString(requestLineEnd)
        for (name, value) in head!.headers where !isName(name, "host") && !isName(name, "content-length") && !isName(name, "authorization") {
            out.writeHeader(name, value)
        }
        out.writeStaticString("Authorization: Bearer sk-upstream\r\nContent-Length: ")
        out.writeDecimal(body.readableBytes)
        out.writeStaticString("\r\n\r\n")
        out.writeBuffer(&body)
        if let upstream = pool.idle.popLast() {
            upstream.send(out, for: self)
            return
        }
        let pool = self.pool
        ClientBootstrap(group: context.eventLoop).channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let decoder = RespDecoder()
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(pool: pool, decoder: decoder))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort).whenSuccess { channel in
                let upstream = try! channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                upstream.send(out, for: self)
            }
    }
    func relayHead(_ head: HTTPResponseHead) {
        var out = context!.channel.allocator.buffer(capacity: 512)
        if head.status == .ok {
            out.writeStaticString("HTTP/1.1 200 OK\r\n")
        } else {
            out.writeStaticString("HTTP/1.1 ")
            out.writeDecimal(Int(head.status.code))
            out.writeStaticString(" \r\n")
        }
        for (name, value) in head.headers where !isName(name, "connection") && !isName(name, "keep-alive") {
            out.writeHeader(name, value)
        }
        out.writeStaticString("\r\n")
        context!.write(NIOAny(out), promise: nil)
    }
    func relayBody(_ buffer: ByteBuffer) { context!.write(NIOAny(buffer), promise: nil) }
    func relayEnd() { context!.flush() }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let pool = Pool()
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
            try channel.pipeline.syncOperations.addHandler(ClientHandler(pool: pool))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort).wait()
try server.closeFuture.wait()
