#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every proxied stream holds two sockets, so the usual soft limit of 1,024
/// open files caps the gateway near 500 streams. Like Go's runtime (and
/// nginx's `worker_rlimit_nofile`), the gateway raises its soft limit to
/// the hard limit the operator or container runtime allows.
public enum OpenFileLimit {
    /// The soft limit after raising it as far as allowed (nil if unknown).
    @discardableResult
    public static func raiseToHardLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Self.resource, &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY is all ones.
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}
