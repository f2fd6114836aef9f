import Foundation
import Logging

/// swift-log output as operators want it: one line per event, JSON for log
/// pipelines (`LOG_FORMAT=json`) or text for people.
public enum LogSetup {
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    public static func level(_ name: String?) -> Logger.Level {
        name.flatMap(LogLevelName.parse).flatMap(Logger.Level.init(rawValue:)) ?? .info
    }
}

/// One JSON object per line on standard error.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    package let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        var line = "{\"ts\":\(JSONString.quoted(Self.timestamp())),\"level\":\"\(event.level.rawValue)\",\"logger\":\(JSONString.quoted(label)),\"msg\":\(JSONString.quoted("\(event.message)"))"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += ",\(JSONString.quoted(key)):\(JSONString.quoted("\(value)"))"
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func timestamp() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var tm = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, time.tv_nsec / 1_000_000)
    }
}
