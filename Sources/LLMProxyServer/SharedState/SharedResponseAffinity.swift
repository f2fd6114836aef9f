import LLMProxyCore

/// Response affinity shared by replicas (with `shared_state`): which
/// provider holds each response id, as `{prefix}resp:{id}` keys with a TTL
/// of OpenAI's own retention (30 days), beside each process's LRU
/// (`ResponseAffinity`), which is asked first. Writes are fire and forget;
/// a lookup is a step of admission, only for an id the process does not
/// know, and a store that cannot answer in time leaves the request to ask
/// the candidates in turn, as without a store.
enum SharedResponseAffinity {
    static let ttlSeconds = 30 * 24 * 3600

    static func key(_ id: String, prefix: String) -> String { "\(prefix)resp:\(id)" }

    static func remember(_ id: String, provider: String, loop: LoopContext, config: SharedStateConfig?) {
        loop.responseAffinity.remember(id, provider: provider)
        guard let config, let client = loop.sharedState else { return }
        client.command(["SET", key(id, prefix: config.keyPrefix), provider, "EX", String(ttlSeconds)], callback: nil)
    }

    static func forget(_ id: String, loop: LoopContext, config: SharedStateConfig?) {
        loop.responseAffinity.forget(id)
        guard let config, let client = loop.sharedState else { return }
        client.command(["DEL", key(id, prefix: config.keyPrefix)], callback: nil)
    }

    /// Narrows `request` to the holder the store names for its `affinityID`
    /// (and remembers it locally); `completion` runs on the loop, at once
    /// when there is nothing to ask.
    static func lookUp(_ request: consuming ProxiedRequest, loop: LoopContext, completion: @escaping (ProxiedRequest) -> Void) {
        guard let id = request.affinityID, let config = request.snapshot.config.sharedState, let client = loop.sharedState, client.isReady else {
            return completion(request)
        }
        let waiting = SharedLimitStep.Waiting(request)
        client.command(["GET", key(id, prefix: config.keyPrefix)]) { result in
            guard var request = waiting.request.take() else { return }
            switch result {
            case .success(let reply):
                if let holder = reply.stringValue, RequestAdmission.narrow(&request, toHolder: holder) {
                    loop.responseAffinity.remember(id, provider: holder)
                }
            case .failure:
                loop.metrics.sharedStateError()
            }
            completion(request)
        }
    }
}
