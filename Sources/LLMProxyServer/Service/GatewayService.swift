import Foundation
import LLMProxyCore
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the gateway under swift-service-lifecycle: SIGTERM/SIGINT drain and
/// stop it, SIGHUP reloads the config.
public struct GatewayService: Service, CustomStringConvertible {
    public let gateway: Gateway
    public let reloader: ConfigReloader

    public init(gateway: Gateway, reloader: ConfigReloader) {
        self.gateway = gateway
        self.reloader = reloader
    }

    /// The name ServiceGroup logs, given to it as `serviceName`: its own
    /// `"\(service)"` would reflect over the struct, a protocol-conformance
    /// scan of the whole binary per field (about half a millisecond of
    /// every start).
    public var description: String { "GatewayService" }

    public func run() async throws {
        try await gateway.start()
        // Serving needs a fraction of what starting touched (see `StartupPages`).
        // A moment after the listener is up, off the loops: done at once, the
        // first requests faulted back what was being paged out (exec to the
        // first `/health` 200 went from 16 to 40 ms). The config's regular
        // expressions are compiled then too, not before the listener.
        let logger = gateway.logger
        let state = gateway.state
        Task.detached(priority: .background) {
            try? await Task.sleep(for: StartupPages.delay)
            state.config.compilePatterns()
            let advised = StartupPages.release()
            logger.debug("startup pages given back", metadata: ["advised_bytes": "\(advised)"])
        }
        let reloader = self.reloader
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    await reloader.reload(reason: "SIGHUP")
                }
            }
            if reloader.gateway.state.config.config.watchConfig {
                group.addTask {
                    await ConfigFileWatcher(path: reloader.sources.configPath, logger: reloader.gateway.logger)
                        .run { await reloader.reload(reason: "config file changed") }
                }
            }
            group.addTask {
                try? await gracefulShutdown()
            }
            await group.next()
            group.cancelAll()
        }
        let drain = gateway.state.config.config.server.drainTimeoutSeconds
        gateway.logger.info("shutting down: draining in-flight requests", metadata: ["drain_timeout_seconds": "\(drain)"])
        await gateway.shutdown(drainTimeout: .milliseconds(Int64(drain * 1000)))
        gateway.logger.info("stopped")
    }
}
