import Logging
import Synchronization

/// Collects log entries of the gateway under test.
package final class LogCapture: Sendable {
    package struct Entry: Sendable, CustomStringConvertible {
        package var level: Logger.Level
        package var message: String
        package var metadata: [String: String]
        package var description: String { "\(level) \(message) \(metadata)" }
    }

    private let storage = Mutex<[Entry]>([])
    private let level: Logger.Level

    /// `level`: the lowest level the captured logger logs at.
    package init(level: Logger.Level = .info) { self.level = level }
    package var entries: [Entry] { storage.withLock { $0 } }
    package func append(_ entry: Entry) { storage.withLock { $0.append(entry) } }

    package var logger: Logger {
        Logger(label: "capture") { [level] _ in CapturingHandler(capture: self, logLevel: level) }
    }
}

private struct CapturingHandler: LogHandler {
    package let capture: LogCapture
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .info

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
        capture.append(.init(level: event.level, message: "\(event.message)", metadata: flat))
    }
}
