import Foundation
import LLMProxyCore
import Logging

/// Re-reads, re-interpolates and re-validates the config file and swaps it
/// in; an invalid file leaves the running config serving.
public struct ConfigReloader: Sendable {
    public let gateway: Gateway
    public let sources: SettingSources

    public init(gateway: Gateway, sources: SettingSources) {
        self.gateway = gateway
        self.sources = sources
    }

    /// Loads a snapshot the way startup and every reload do.
    public static func loadSnapshot(sources: SettingSources, version: Int) throws(ConfigError) -> RuntimeConfig {
        let overrides = try sources.resolvedOverrides()
        let config = try ConfigLoader.load(path: sources.configPath, environment: sources.interpolationEnvironment, overrides: overrides)
        return RuntimeConfig(config: config, version: version, sourcePath: sources.configPath)
    }

    /// Credentials the new file adds or changes get their first token
    /// before it is installed; the running config serves meanwhile.
    @discardableResult
    public func reload(reason: String) async -> Bool {
        do throws(ConfigError) {
            let snapshot = try Self.loadSnapshot(sources: sources, version: gateway.nextVersion())
            await gateway.prepare(snapshot)
            snapshot.compilePatterns()
            gateway.install(snapshot)
            gateway.state.recordReload(error: nil)
            gateway.logger.info("config reloaded", metadata: ["reason": "\(reason)", "version": "\(snapshot.version)", "providers": "\(snapshot.providers.count)"])
            return true
        } catch {
            gateway.state.recordReload(error: error.description)
            gateway.logger.error("config reload rejected; the previous config keeps serving", metadata: [
                "reason": "\(reason)", "errors": "\(error.description)",
            ])
            return false
        }
    }
}
