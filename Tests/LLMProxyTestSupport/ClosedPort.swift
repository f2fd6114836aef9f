import Glibc

/// A port on 127.0.0.1 that refuses connections for as long as this is
/// open: a socket bound to it that never listens. `unusedPort()` releases
/// its port, which a test running beside could then bind, or which the
/// kernel could pick as the source port of a connection to it (a TCP
/// self-connect, then reused from the pool); a bound port is neither.
package final class ClosedPort: @unchecked Sendable {
    package let port: Int
    private var descriptor: Int32

    package init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestClientError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else {
            Glibc.close(descriptor)
            throw TestClientError(description: "bind: errno \(errno)")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// The port is free again.
    package func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }
}
