import LLMProxyCore
import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to a provider. It carries one exchange
/// at a time and stops reading while the client it relays to cannot take
/// more bytes, so a slow client slows the provider instead of filling memory.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler, UpstreamTransport {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: Int
    let poolKey: UpstreamPoolKey
    private let decoder: UpstreamResponseDecoder
    private let flushes: FlushCoalescer
    private let liveObjects: LiveObjectCounts
    weak var pool: UpstreamConnectionPool?
    private(set) var context: ChannelHandlerContext?
    private var delegate: (any UpstreamResponseDelegate)?
    private var keepAlive = true
    private var readPaused = false
    private var readPending = false
    /// Exchanges this connection has completed; 0 means it is fresh.
    private(set) var completedExchanges = 0

    init(id: Int, poolKey: UpstreamPoolKey, decoder: UpstreamResponseDecoder, flushes: FlushCoalescer, liveObjects: LiveObjectCounts) {
        self.id = id
        self.poolKey = poolKey
        self.decoder = decoder
        self.flushes = flushes
        self.liveObjects = liveObjects
        liveObjects.created(.upstreamConnection)
    }

    deinit {
        liveObjects.destroyed(.upstreamConnection)
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler and this handler held the context: a
    /// cycle that kept every closed connection's pipeline (decoder, buffers,
    /// the channel) alive for good, ~1.6 KB per failed connect. NIO removes
    /// the handlers of every channel it closes, a failed connect included,
    /// so this is where the cycle is broken.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        delegate = nil
    }

    var isReused: Bool { completedExchanges > 0 }

    /// Sends the delegate's whole request (see `UpstreamRequestEncoder`) in one write.
    func send(to delegate: any UpstreamResponseDelegate) {
        guard let context else {
            delegate.upstreamFailed(UpstreamConnectionClosed())
            return
        }
        self.delegate = delegate
        keepAlive = true
        decoder.expectResponse(to: delegate.upstreamMethod)
        let request = delegate.encodeUpstreamRequest(host: poolKey.endpoint.hostHeader, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(request), promise: nil)
        flushes.flushSoon(context)
        if readPaused { setReadPaused(false) }
    }

    func writeBodyPart(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        flushes.flushSoon(context)
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func setReadPaused(_ paused: Bool) {
        readPaused = paused
        if !paused && readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Back to the pool, or closed when it may not be reused.
    func release(reusable: Bool) {
        if let pool {
            pool.release(self, reusable: reusable)
        } else {
            abandon()
        }
    }

    /// Closes without returning to the pool; an exchange in progress is
    /// dropped without a callback.
    func abandon() {
        delegate = nil
        context?.close(promise: nil)
    }

    // MARK: - Channel events

    func read(context: ChannelHandlerContext) {
        if readPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            delegate?.upstreamResponseHead(head)
        case .body(let buffer):
            delegate?.upstreamResponseBody(buffer)
        case .end:
            completedExchanges += 1
            let finished = delegate
            delegate = nil
            finished?.upstreamResponseEnd(reusable: keepAlive && context.channel.isActive)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let failed = delegate
        delegate = nil
        pool?.connectionClosed(self)
        failed?.upstreamFailed(UpstreamConnectionClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failed = delegate
        delegate = nil
        context.close(promise: nil)
        failed?.upstreamFailed(error)
    }
}
