import LLMProxyCore
import NIOCore

/// Flushes of one event loop, gathered and done together once the loop has
/// handled its current batch of socket events, as Netty's
/// FlushConsolidationHandler does.
///
/// Every write on a loopback or LAN socket may wake the process reading the
/// other end, and a wake-up that has to interrupt another CPU is among the
/// most expensive things a request does (a profile of the gateway showed it
/// at ~12% of its CPU). Flushing the upstream requests and the client
/// responses of one batch back to back lets their readers find them all in
/// one wake-up. The delay is the rest of the batch: microseconds.
final class FlushCoalescer {
    private let eventLoop: any EventLoop
    private var waiting: [ChannelHandlerContext] = []
    /// The list being flushed, kept to reuse its storage.
    private var flushing: [ChannelHandlerContext] = []
    private var scheduled = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// `context` is flushed after the loop's current batch of events.
    func flushSoon(_ context: ChannelHandlerContext) {
        waiting.append(context)
        guard !scheduled else { return }
        scheduled = true
        eventLoop.assumeIsolated().execute { self.flushAll() }
    }

    private func flushAll() {
        scheduled = false
        swap(&waiting, &flushing)
        for context in flushing { context.flush() }
        flushing.removeAll(keepingCapacity: true)
    }
}
