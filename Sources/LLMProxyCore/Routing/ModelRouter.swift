/// Resolves a client's model name to the providers that serve it and the
/// upstream model each one should be asked for, per the spec's "Model
/// resolution": suffix stripping, exact keys before patterns, file order,
/// `$1` captures, and providers without a mapping serving every name.
///
///     let route = router.resolve("Proxy/gpt-4o")
///     route?.candidates.first?.upstreamModel  // "gpt-4o-2024-08-06"
public struct ModelRouter: Sendable {
    public let providers: [ProviderConfig]
    private let suffixPrefix: String?

    public init(providers: [ProviderConfig], providerSuffix: String?) {
        self.providers = providers
        self.suffixPrefix = providerSuffix.map { $0 + "/" }
    }

    /// The name the rest of the request sees: `Proxy/gpt-4` becomes `gpt-4`;
    /// `Other/gpt-4` stays as it is.
    public func normalize(_ requested: String) -> String {
        if let suffixPrefix, requested.hasPrefix(suffixPrefix), requested.count > suffixPrefix.count {
            return String(requested.dropFirst(suffixPrefix.count))
        }
        return requested
    }

    /// Every enabled provider, for calls that name no model (a stored
    /// response's); nil when none is enabled.
    public func everyEnabledProvider() -> ModelRoute? {
        let candidates = providers.indices.filter { providers[$0].enabled }.map { ModelRoute.Candidate(providerIndex: $0, upstreamModel: "") }
        return candidates.isEmpty ? nil : ModelRoute(candidates: candidates)
    }

    /// nil when no enabled provider serves the (normalized) model.
    public func resolve(normalized model: String) -> ModelRoute? {
        var candidates: [ModelRoute.Candidate] = []
        for (index, provider) in providers.enumerated() where provider.enabled {
            if let mapping = provider.modelMapping {
                if let target = mapping.target(for: model) {
                    candidates.append(.init(providerIndex: index, upstreamModel: target))
                }
            } else {
                candidates.append(.init(providerIndex: index, upstreamModel: model))
            }
        }
        return candidates.isEmpty ? nil : ModelRoute(candidates: candidates)
    }

    public func resolve(_ requested: String) -> ModelRoute? {
        resolve(normalized: normalize(requested))
    }

    /// The ids `/v1/models` lists, in first-seen order without duplicates:
    /// every exact mapping key, plus what the last good probe of a provider
    /// without a mapping reported.
    public func listedModels(probedModels: (Int) -> [String]) -> [String] {
        var seen: Set<String> = []
        var ids: [String] = []
        for (index, provider) in providers.enumerated() where provider.enabled {
            let names = provider.modelMapping?.exactKeys ?? probedModels(index)
            for name in names where seen.insert(name).inserted { ids.append(name) }
        }
        return ids
    }
}

/// The providers that can serve one model, in config order.
public struct ModelRoute: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable {
        public var providerIndex: Int
        public var upstreamModel: String
    }

    public var candidates: [Candidate]

    /// Identifies the candidate set, so that models served by the same
    /// providers share one round-robin sequence, as an nginx upstream block does.
    public var providerSet: [Int] { candidates.map(\.providerIndex) }
}
