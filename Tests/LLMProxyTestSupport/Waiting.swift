import Foundation

package func waitUntil(seconds: Double, _ condition: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
}

/// A port nothing listens on (bound once, then released).
package func unusedPort() async throws -> Int {
    let upstream = try await MockUpstream()
    let port = upstream.port
    await upstream.stop()
    return port
}
