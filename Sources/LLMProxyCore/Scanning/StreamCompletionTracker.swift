import NIOCore

/// Watches a relayed SSE stream for the sign its API gives of a complete
/// stream (`StreamCompletion`): OpenAI's closing `data: [DONE]`, or a
/// Google chunk with a `finishReason`. An upstream that ends the HTTP
/// response early is then never passed off to the client as a complete
/// stream. Keeps only the last few bytes: the relay stays byte-for-byte and
/// unbuffered.
package struct StreamCompletionTracker {
    package let completion: StreamCompletion
    private var tail: [UInt8] = []
    private var sawFinishReason = false
    private static let window = 32
    private static let finishReason = Array("\"finishReason\"".utf8)

    package init(_ completion: StreamCompletion = .doneSentinel) {
        self.completion = completion
    }

    package mutating func observe(_ buffer: ByteBuffer) {
        switch completion {
        case .doneSentinel:
            keepTail(of: buffer)
        case .finishReason:
            guard !sawFinishReason else { return }
            // The tail carries a marker split across two reads.
            var window = tail
            window.append(contentsOf: buffer.readableBytesView)
            sawFinishReason = Self.contains(window, Self.finishReason)
            tail = Array(window.suffix(Self.finishReason.count - 1))
        }
    }

    /// The stream showed its API's sign of completion.
    package var isComplete: Bool {
        switch completion {
        case .doneSentinel: return sawDone
        case .finishReason: return sawFinishReason
        }
    }

    /// The stream's last event is `data: [DONE]`.
    package var sawDone: Bool {
        var end = tail.count
        while end > 0, [0x20, 0x0A, 0x0D, 0x09].contains(tail[end - 1]) { end -= 1 }
        let marker = Array("[DONE]".utf8)
        guard end >= marker.count, Array(tail[(end - marker.count)..<end]) == marker else { return false }
        return true
    }

    private mutating func keepTail(of buffer: ByteBuffer) {
        let take = min(buffer.readableBytes, Self.window)
        guard take > 0 else { return }
        buffer.withUnsafeReadableBytes { bytes in
            tail.append(contentsOf: bytes[(bytes.count - take)...])
        }
        if tail.count > Self.window { tail.removeFirst(tail.count - Self.window) }
    }

    private static func contains(_ bytes: [UInt8], _ marker: [UInt8]) -> Bool {
        guard bytes.count >= marker.count else { return false }
        var index = 0
        let last = bytes.count - marker.count
        while index <= last {
            // The marker's second byte, `f`, is rare in JSON punctuation: skip to it.
            guard let f = bytes[(index + 1)...].firstIndex(of: marker[1]) else { return false }
            let start = f - 1
            if start > last { return false }
            if bytes[start] == marker[0], bytes[start..<(start + marker.count)].elementsEqual(marker) { return true }
            index = start + 1
        }
        return false
    }
}
