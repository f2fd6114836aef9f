import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The executable's pages that only starting needed (argument and config
/// parsing, YAML, the first conformance lookups) are given back once the
/// listener is up: `madvise(MADV_DONTNEED)` over the binary's code mapping
/// (`r-xp`: code and read-only data, never written) unmaps them from the
/// process. They stay in the page cache, so the request path's own pages
/// come back on first use as minor faults, once, and the next start of the
/// binary still finds them cached. Only that mapping: the read-only part of
/// the data segment holds relocated (copied) pages, which `DONTNEED` would
/// throw away. (`MADV_PAGEOUT` evicted the pages from the page cache too:
/// the next start read them from disk, exec to `/health` 24 -> 42 ms.)
/// Measured on the static release binary: see README, "Footprint".
public enum StartupPages {
    /// How long after the listener is up (see `GatewayService.run`).
    public static let delay = Duration.milliseconds(100)

    /// Bytes of mappings advised (not all were resident); 0 where not supported.
    @discardableResult
    public static func release() -> Int {
        #if os(Linux)
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        else { return 0 }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode path"
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5] == executable, fields[1] == "r-xp" else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start else { continue }
            if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED) == 0 { advised += Int(end - start) }
        }
        return advised
        #else
        return 0
        #endif
    }
}
