import NIOCore

/// Watches a relayed SSE stream for the sign its API gives of a complete
/// stream (`StreamCompletion`): OpenAI's closing `data: [DONE]`, a Google
/// chunk with a `finishReason`, Anthropic's `message_stop` (or `error`) event. An upstream that ends the HTTP
/// response early is then never passed off to the client as a complete
/// stream. Keeps only the last few bytes: the relay stays byte-for-byte and
/// unbuffered.
package struct StreamCompletionTracker {
    package let completion: StreamCompletion
    private var tail: [UInt8] = []
    private var sawMarker = false
    private static let window = 32
    /// Quoted JSON, so the same words inside a message's text (escaped
    /// quotes there) do not count.
    private static let finishReason = [Array("\"finishReason\"".utf8)]
    private static let messageStop = [Array("\"type\":\"message_stop\"".utf8), Array("\"type\":\"error\"".utf8)]
    private static let responseTerminal = [
        Array("\"type\":\"response.completed\"".utf8), Array("\"type\":\"response.incomplete\"".utf8),
        Array("\"type\":\"response.failed\"".utf8), Array("\"type\":\"error\"".utf8),
    ]

    package init(_ completion: StreamCompletion = .doneSentinel) {
        self.completion = completion
    }

    package mutating func observe(_ buffer: ByteBuffer) {
        switch completion {
        case .doneSentinel:
            keepTail(of: buffer)
        case .finishReason:
            watch(buffer, for: Self.finishReason)
        case .messageStop:
            watch(buffer, for: Self.messageStop)
        case .responseTerminal:
            watch(buffer, for: Self.responseTerminal)
        }
    }

    /// The stream showed its API's sign of completion.
    package var isComplete: Bool {
        switch completion {
        case .doneSentinel: return sawDone
        case .finishReason, .messageStop, .responseTerminal: return sawMarker
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

    /// Whether any of `markers` went by; the tail carries a marker split
    /// across two reads.
    private mutating func watch(_ buffer: ByteBuffer, for markers: [[UInt8]]) {
        guard !sawMarker else { return }
        var window = tail
        window.append(contentsOf: buffer.readableBytesView)
        sawMarker = markers.contains { Self.contains(window, $0) }
        let longest = markers.map(\.count).max() ?? 1
        tail = Array(window.suffix(longest - 1))
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
            // A marker's second byte is a letter, rarer than its opening quote: skip to it.
            guard let f = bytes[(index + 1)...].firstIndex(of: marker[1]) else { return false }
            let start = f - 1
            if start > last { return false }
            if bytes[start] == marker[0], bytes[start..<(start + marker.count)].elementsEqual(marker) { return true }
            index = start + 1
        }
        return false
    }
}
