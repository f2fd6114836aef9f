import NIOCore

/// Watches the tail of an OpenAI-format SSE stream for its closing
/// `data: [DONE]`, so that an upstream which ends the HTTP response early is
/// never passed off to the client as a complete stream. Keeps only the last
/// few bytes: the relay stays byte-for-byte and unbuffered.
package struct StreamCompletionTracker {
    package init() {}

    private var tail: [UInt8] = []
    private static let window = 32

    package mutating func observe(_ buffer: ByteBuffer) {
        let take = min(buffer.readableBytes, Self.window)
        guard take > 0 else { return }
        buffer.withUnsafeReadableBytes { bytes in
            tail.append(contentsOf: bytes[(bytes.count - take)...])
        }
        if tail.count > Self.window { tail.removeFirst(tail.count - Self.window) }
    }

    /// The stream's last event is `data: [DONE]`.
    package var sawDone: Bool {
        var end = tail.count
        while end > 0, [0x20, 0x0A, 0x0D, 0x09].contains(tail[end - 1]) { end -= 1 }
        let marker = Array("[DONE]".utf8)
        guard end >= marker.count, Array(tail[(end - marker.count)..<end]) == marker else { return false }
        return true
    }
}
