import Foundation
import LLMProxyCore
import Logging

/// Notices changes of the config file, including Kubernetes' ConfigMap
/// update, where the file is a symlink through `..data` and the kubelet
/// swaps `..data` to a new directory (the file's own mtime may not change).
/// It polls the resolved path's identity (device, inode, size, mtime) and
/// fires once a change has been stable for one interval, so a burst of
/// writes or a half-written file does not trigger a reload of a torn file.
public struct ConfigFileWatcher: Sendable {
    public let path: String
    public let interval: Duration
    let logger: Logger

    public init(path: String, interval: Duration = .milliseconds(500), logger: Logger) {
        self.path = path
        self.interval = interval
        self.logger = logger
    }

    struct Fingerprint: Equatable {
        var resolvedPath: String
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
    }

    static func fingerprint(of path: String) -> Fingerprint? {
        let resolved = (path as NSString).resolvingSymlinksInPath
        var info = stat()
        guard stat(resolved, &info) == 0 else { return nil }
        return Fingerprint(
            resolvedPath: resolved, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    public func run(onChange: @Sendable () async -> Void) async {
        var current = Self.fingerprint(of: path)
        var pending: Fingerprint? = nil
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            let seen = Self.fingerprint(of: path)
            guard seen != current else {
                pending = nil
                continue
            }
            if let seen, seen == pending {
                // Unchanged for a whole interval: the writer is done.
                current = seen
                pending = nil
                await onChange()
            } else {
                pending = seen
            }
        }
    }
}
