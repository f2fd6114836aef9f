import LLMProxyCore
import NIOCore
import NIOPosix
import NIOSSL

/// The one way the gateway opens a connection to a provider, for the
/// request path's pool and the health prober alike: TCP_NODELAY, the
/// gateway's receive buffers, and TLS with SNI (a host name only, never an
/// IP address) and the shared client context when the endpoint is HTTPS.
enum ProviderBootstrap {
    /// A bootstrap whose channels get the TLS handler (when `endpoint` uses
    /// TLS) and then what `handlers` adds. Throws when the TLS context cannot
    /// be built (the system trust roots failed to load).
    static func make(
        eventLoop: any EventLoop, endpoint: UpstreamEndpoint, verifyTLS: Bool, tls: TLSContextCache, connectTimeout: TimeAmount,
        handlers: @escaping @Sendable (any Channel, ChannelPipeline.SynchronousOperations) throws -> Void
    ) throws -> ClientBootstrap {
        let sslContext = endpoint.useTLS ? try tls.context(verify: verifyTLS) : nil
        let serverName = endpoint.host.isIPAddress ? nil : endpoint.host
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator.gatewayConnection)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try handlers(channel, sync)
                }
            }
    }
}
