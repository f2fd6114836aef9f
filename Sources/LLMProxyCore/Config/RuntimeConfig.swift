import Foundation

/// One loaded, validated config with everything the request path derives
/// from it. Immutable: a reload builds a new one and swaps it in, and a
/// request keeps the snapshot it started with until it ends.
public final class RuntimeConfig: Sendable {
    public let config: GatewayConfig
    public let router: ModelRouter
    public let keys: KeyStore
    /// Counts loads in this process, starting at 1.
    public let version: Int
    public let loadedAt: Date
    public let sourcePath: String

    public init(config: GatewayConfig, version: Int, sourcePath: String, loadedAt: Date = Date()) {
        self.config = config
        self.router = ModelRouter(providers: config.providers, providerSuffix: config.providerSuffix)
        self.keys = KeyStore(keys: config.masterKeys)
        self.version = version
        self.loadedAt = loadedAt
        self.sourcePath = sourcePath
    }

    public var providers: [ProviderConfig] { config.providers }

    /// Builds the matching program of every regular expression in the config
    /// (`ModelPattern.compile`), off the event loops: a reload before it
    /// installs the config, the start once the listener is up (compiled
    /// before it, they cost the start ~4%: README, "Start").
    public func compilePatterns() {
        for provider in config.providers {
            for (pattern, _) in provider.modelMapping?.patterns ?? [] { pattern.compile() }
        }
        for key in config.masterKeys {
            for pattern in key.allowedModels ?? [] { pattern.compile() }
            for limit in key.modelLimits { limit.pattern.compile() }
        }
    }

    /// The summary `llm-proxy check` prints.
    public var summary: String {
        let enabled = config.providers.filter(\.enabled).count
        var modelNames: Set<String> = []
        var patterns = 0
        var passThrough = 0
        for provider in config.providers where provider.enabled {
            if let mapping = provider.modelMapping {
                modelNames.formUnion(mapping.exactKeys)
                patterns += mapping.patterns.count
            } else {
                passThrough += 1
            }
        }
        var text = "\(sourcePath): OK: \(config.providers.count) providers (\(enabled) enabled), "
        text += config.masterKeys.isEmpty ? "no master keys (open gateway), " : "\(config.masterKeys.count) master keys, "
        text += "\(modelNames.count) models, \(patterns) model patterns"
        if passThrough > 0 { text += ", \(passThrough) providers serving any model" }
        return text
    }
}
