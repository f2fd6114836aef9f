import Foundation
import LLMProxyCore
import NIOCore

/// CPUs this process may run on: its affinity mask (as `taskset` sets it)
/// and its cgroup quota, not the machine's count.
enum ProcessCPUs {
    static var count: Int {
        let quota = System.coreCount  // NIO reads the cgroup cpuset and quota.
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return quota }
        let allowed = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
            count + (character.hexDigitValue ?? 0).nonzeroBitCount
        }
        return max(1, min(quota, allowed))
    }
}
