import LLMProxyCore
import NIOCore

extension AdaptiveRecvByteBufferAllocator {
    /// For client and provider connections alike. NIO keeps each
    /// connection's last receive buffer for good, so the first one is small:
    /// 1.5 KiB less than NIO's 2 KiB default per connection, twice per held
    /// stream, which counts at 10,000 of them. One full read grows it at once.
    static let gatewayConnection = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
}
