import Foundation
import Yams

/// Turns config text into a `GatewayConfig`, collecting every problem with
/// its line and column instead of stopping at the first.
///
/// The YAML tree is walked by hand rather than through `Decodable` because the
/// decoder can neither reject unknown keys nor say where a bad value sits.
public struct ConfigParser {
    private let file: String
    private var diagnostics: [ConfigDiagnostic] = []

    public init(file: String) {
        self.file = file
    }

    /// Parses already-interpolated text.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> GatewayConfig {
        var parser = ConfigParser(file: file)
        let root: Node?
        do {
            // `.basic`: the walk reads every scalar's text itself, so Yams'
            // default tag rules (seven NSRegularExpressions, compiled with
            // ICU on first use, about a millisecond of every start) buy nothing.
            // `.utf8`, what a Swift string's bytes are: Yams' default reads
            // the whole process environment (for YAMS_DEFAULT_ENCODING) to
            // decide it, 1% of every start.
            root = try Yams.compose(yaml: text, .basic, .default, .utf8)
        } catch {
            throw ConfigError([parser.yamlDiagnostic(error)])
        }
        var config = GatewayConfig()
        if let root {
            parser.readRoot(root, into: &config)
        } else {
            parser.report(line: 1, column: 1, "the config file is empty; it needs at least a 'providers' list")
        }
        if !parser.diagnostics.isEmpty {
            throw ConfigError(parser.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return config
    }

    // MARK: - Sections

    private mutating func readRoot(_ root: Node, into config: inout GatewayConfig) {
        let keys = ["server", "verify_ssl", "provider_suffix", "watch_config", "log_level", "log_format",
                    "providers", "master_keys", "health_check", "retry", "shared_state", "tracing"]
        guard let fields = mapping(root, at: "the config file", allowed: keys) else { return }
        if let node = fields["server"] { readServer(node, into: &config.server) }
        if let node = fields["verify_ssl"], let value = bool(node, "verify_ssl") { config.verifySSL = value }
        if let node = fields["provider_suffix"], let value = string(node, "provider_suffix") {
            config.providerSuffix = value.isEmpty ? nil : value
        }
        if let node = fields["watch_config"], let value = bool(node, "watch_config") { config.watchConfig = value }
        if let node = fields["log_level"], let value = string(node, "log_level") {
            if LogLevelName.parse(value) == nil {
                report(node, "log_level '\(value)' is not one of \(LogLevelName.all.joined(separator: ", "))")
            } else {
                config.logLevel = value
            }
        }
        if let node = fields["log_format"], let value = string(node, "log_format") {
            if let format = LogFormat(rawValue: value) { config.logFormat = format } else {
                report(node, "log_format '\(value)' must be 'json' or 'text'")
            }
        }
        if let node = fields["providers"] {
            config.providers = readProviders(node)
        } else {
            report(root, "'providers' is missing: at least one provider is needed")
        }
        if let node = fields["master_keys"] { config.masterKeys = readMasterKeys(node) }
        if let node = fields["health_check"] { readHealthCheck(node, into: &config.healthCheck) }
        if let node = fields["shared_state"] { config.sharedState = readSharedState(node) }
        if let node = fields["tracing"] { config.tracing = readTracing(node) }
        if let node = fields["retry"] {
            let keys = ["max_attempts"]
            if let retry = mapping(node, at: "retry", allowed: keys), let value = retry["max_attempts"] {
                if let attempts = int(value, "retry.max_attempts", min: 1) { config.retry.maxAttempts = attempts }
            }
        }
    }

    private mutating func readTracing(_ node: Node) -> TracingConfig? {
        let keys = ["otlp_endpoint", "sample_ratio", "service_name", "headers"]
        guard let fields = mapping(node, at: "tracing", allowed: keys) else { return nil }
        var tracing = TracingConfig()
        if let n = fields["otlp_endpoint"], let v = string(n, "tracing.otlp_endpoint") {
            if TracingConfig.isEndpoint(v) { tracing.otlpEndpoint = TracingConfig.trimmed(v) } else {
                report(n, "tracing.otlp_endpoint '\(v)' is not an http(s) URL such as http://otel-collector:4318")
            }
        }
        if let n = fields["sample_ratio"], let v = number(n, "tracing.sample_ratio") {
            if (0...1).contains(v) { tracing.sampleRatio = v } else { report(n, "tracing.sample_ratio must be between 0 and 1, not \(v)") }
        }
        if let n = fields["service_name"], let v = string(n, "tracing.service_name") {
            if v.isEmpty { report(n, "tracing.service_name must not be empty") } else { tracing.serviceName = v }
        }
        if let n = fields["headers"] { tracing.headers = headerPairs(n, "tracing.headers", label: "tracing.headers") }
        return tracing
    }

    private mutating func readSharedState(_ node: Node) -> SharedStateConfig? {
        let keys = ["redis_url", "key_prefix", "on_unavailable", "timeout_ms"]
        guard let fields = mapping(node, at: "shared_state", allowed: keys) else { return nil }
        guard let urlNode = fields["redis_url"] else {
            report(node, "shared_state.redis_url is missing (redis://[user:password@]host:port[/db], or rediss:// for TLS)")
            return nil
        }
        guard let text = string(urlNode, "shared_state.redis_url") else { return nil }
        let (url, problem) = RedisURL.parse(text)
        guard let url else {
            // Never the value itself: it may hold the password.
            report(urlNode, "shared_state.redis_url is not a Redis URL: it \(problem ?? "is malformed")")
            return nil
        }
        var shared = SharedStateConfig(url: url)
        if let n = fields["key_prefix"], let v = string(n, "shared_state.key_prefix") { shared.keyPrefix = v }
        if let n = fields["on_unavailable"], let v = string(n, "shared_state.on_unavailable") {
            if let mode = SharedStateConfig.OnUnavailable(rawValue: v) { shared.onUnavailable = mode } else {
                report(n, "shared_state.on_unavailable '\(v)' must be local, deny or allow")
            }
        }
        if let n = fields["timeout_ms"], let v = int(n, "shared_state.timeout_ms", min: 1, max: 60_000) { shared.timeoutMilliseconds = v }
        return shared
    }

    private mutating func readServer(_ node: Node, into server: inout ServerConfig) {
        let keys = ["host", "port", "request_timeout_seconds", "max_body_bytes", "max_upload_bytes", "event_loops",
                    "drain_timeout_seconds", "client_idle_timeout_seconds", "connect_timeout_seconds"]
        guard let fields = mapping(node, at: "server", allowed: keys) else { return }
        if let n = fields["host"], let v = string(n, "server.host") {
            if v.isEmpty { report(n, "server.host must not be empty") } else { server.host = v }
        }
        if let n = fields["port"], let v = int(n, "server.port", min: 1, max: 65535) { server.port = v }
        if let n = fields["request_timeout_seconds"], let v = seconds(n, "server.request_timeout_seconds") {
            server.requestTimeoutSeconds = v
        }
        if let n = fields["max_body_bytes"], let v = int(n, "server.max_body_bytes", min: 1) { server.maxBodyBytes = v }
        if let n = fields["max_upload_bytes"], let v = int(n, "server.max_upload_bytes", min: 1) { server.maxUploadBytes = v }
        if let n = fields["event_loops"], let v = int(n, "server.event_loops", min: 0, max: 1024) { server.eventLoops = v }
        if let n = fields["drain_timeout_seconds"], let v = seconds(n, "server.drain_timeout_seconds", allowZero: true) {
            server.drainTimeoutSeconds = v
        }
        if let n = fields["client_idle_timeout_seconds"], let v = seconds(n, "server.client_idle_timeout_seconds") {
            server.clientIdleTimeoutSeconds = v
        }
        if let n = fields["connect_timeout_seconds"], let v = seconds(n, "server.connect_timeout_seconds") {
            server.connectTimeoutSeconds = v
        }
    }

    private mutating func readProviders(_ node: Node) -> [ProviderConfig] {
        guard let items = sequence(node, "providers") else { return [] }
        if items.isEmpty { report(node, "'providers' is empty: at least one provider is needed") }
        var providers: [ProviderConfig] = []
        var seenNames: [String: Int] = [:]
        for item in items {
            if let nameNode = item.mapping?["name"], let name = nameNode.scalar?.string {
                if let firstLine = seenNames[name] {
                    report(nameNode, "duplicate provider name '\(name)' (first defined on line \(firstLine)); names must be unique")
                } else {
                    seenNames[name] = nameNode.mark?.line ?? 0
                }
            }
            if let provider = readProvider(item) { providers.append(provider) }
        }
        return providers
    }

    private mutating func readProvider(_ node: Node) -> ProviderConfig? {
        let keys = ["name", "type", "api_base", "api_key", "credentials", "weight", "headers", "model_mapping", "api_version", "enabled"]
        guard let fields = mapping(node, at: "a provider", allowed: keys) else { return nil }
        let before = diagnostics.count
        var name = ""
        if let n = fields["name"], let v = string(n, "provider name") {
            if v.isEmpty { report(n, "a provider's name must not be empty") }
            name = v
        } else if fields["name"] == nil {
            report(node, "a provider needs a 'name'")
        }
        let label = name.isEmpty ? "provider" : "provider '\(name)'"
        var type = ProviderType.openai
        if let n = fields["type"], let v = string(n, "\(label) type") {
            if let parsed = ProviderType(rawValue: v) { type = parsed } else {
                report(n, "\(label): unknown type '\(v)'; use one of \(ProviderType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        var endpoint: UpstreamEndpoint? = nil
        if let n = fields["api_base"], let v = string(n, "\(label) api_base") {
            if let parsed = UpstreamEndpoint(parsing: v) { endpoint = parsed } else {
                report(n, "\(label): api_base '\(v)' is not an http(s) URL such as https://api.openai.com/v1")
            }
        } else if fields["api_base"] == nil && type == .anthropic {
            endpoint = UpstreamEndpoint(parsing: ProviderConfig.defaultAnthropicAPIBase)
        } else if fields["api_base"] == nil && type != .mock {
            report(node, "\(label) needs an 'api_base' (an http(s) URL)")
        }
        var apiKey = ""
        var credentials: ProviderCredentials? = nil
        if let n = fields["credentials"] {
            credentials = readCredentials(n, label: label, type: type)
            if let keyNode = declaredKeyNode(node, "api_key") {
                report(keyNode, "\(label): api_key and credentials cannot both be given; credentials make the provider's tokens")
            }
        } else if let n = fields["api_key"], let v = string(n, "\(label) api_key") {
            if v.isEmpty && type != .openai && type != .mock {
                report(n, "\(label): api_key is empty; only openai-type providers (e.g. a local vLLM) may declare api_key: \"\"")
            }
            apiKey = v
        } else if fields["api_key"] == nil, let declared = declaredKeyNode(node, "api_key") {
            // `api_key:` with no value, typically `${KEY:-}` with KEY unset: declared empty.
            if type != .openai && type != .mock {
                report(declared, "\(label): api_key is empty; only openai-type providers (e.g. a local vLLM) may declare api_key: \"\"")
            }
        } else if fields["api_key"] == nil && type != .mock {
            report(node, "\(label) needs an 'api_key' (write api_key: \"\" for an openai-type server that takes none)")
        }
        var weight = 1
        if let n = fields["weight"], let v = int(n, "\(label) weight") {
            if v < 1 { report(n, "\(label): weight must be an integer >= 1, not \(v)") } else { weight = v }
        }
        var headers: [(name: String, value: String)] = []
        if let n = fields["headers"] { headers = headerPairs(n, "\(label) headers", label: label) }
        var apiVersion = ProviderConfig.defaultAzureAPIVersion
        if let n = fields["api_version"], let v = string(n, "\(label) api_version") {
            if type != .azure { report(n, "\(label): api_version applies only to azure providers") }
            if v.isEmpty { report(n, "\(label): api_version must not be empty") } else { apiVersion = v }
        }
        var enabled = true
        if let n = fields["enabled"], let v = bool(n, "\(label) enabled") { enabled = v }
        var mapping: ModelMapping? = nil
        if let n = fields["model_mapping"] { mapping = readModelMapping(n, label: label) }
        guard diagnostics.count == before else { return nil }
        return ProviderConfig(
            name: name, type: type, endpoint: endpoint, apiKey: apiKey, credentials: credentials, weight: weight, headers: headers,
            apiVersion: apiVersion, enabled: enabled, modelMapping: mapping)
    }

    /// `credentials:` of a provider (see `ProviderCredentials`). A key file is
    /// read and checked here, so a missing or wrong one is an error with the
    /// line of its `file:`; a relative path is taken from the config file's
    /// directory, where a mounted Secret sits beside a ConfigMap.
    private mutating func readCredentials(_ node: Node, label: String, type providerType: ProviderType) -> ProviderCredentials? {
        let kinds = ["google_service_account", "gcp_metadata", "azure_client_credentials"]
        guard case .mapping(let map) = node,
            let typeNode = map.first(where: { $0.key.scalar?.string == "type" })?.value
        else {
            if mapping(node, at: "\(label) credentials", allowed: ["type"]) != nil {
                report(node, "\(label): credentials need a 'type': one of \(kinds.joined(separator: ", "))")
            }
            return nil
        }
        guard let kind = string(typeNode, "\(label) credentials type") else { return nil }
        let what = "\(label) credentials"
        switch kind {
        case "google_service_account", "gcp_metadata":
            if providerType != .gemini && providerType != .openai {
                report(typeNode, "\(label): \(kind) credentials need a gemini (or openai-compatible) provider, not \(providerType.rawValue)")
                return nil
            }
        case "azure_client_credentials":
            if providerType != .azure && providerType != .openai {
                report(typeNode, "\(label): azure_client_credentials need an azure (or openai-compatible) provider, not \(providerType.rawValue)")
                return nil
            }
        default:
            report(typeNode, "\(label): unknown credentials type '\(kind)'; use one of \(kinds.joined(separator: ", "))")
            return nil
        }
        switch kind {
        case "google_service_account":
            guard let fields = mapping(node, at: what, allowed: ["type", "file", "scope"]) else { return nil }
            var scope = ProviderCredentials.googleCloudPlatformScope
            if let n = fields["scope"], let v = string(n, "\(what) scope") {
                if v.isEmpty { report(n, "\(what): scope must not be empty") } else { scope = v }
            }
            guard let fileNode = fields["file"] else {
                report(node, "\(what): google_service_account needs 'file', the path of the service-account JSON key file")
                return nil
            }
            guard let path = string(fileNode, "\(what) file") else { return nil }
            if path.isEmpty {
                report(fileNode, "\(what): file must not be empty")
                return nil
            }
            let resolved = path.hasPrefix("/") ? path : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
            guard let contents = FileManager.default.contents(atPath: resolved) else {
                let reason = FileManager.default.fileExists(atPath: resolved) ? "cannot be read" : "does not exist"
                report(fileNode, "\(what): the key file '\(resolved)' \(reason)")
                return nil
            }
            do throws(GoogleServiceAccountKey.FileProblem) {
                return .googleServiceAccount(try GoogleServiceAccountKey.parse(fileContents: Array(contents), scope: scope))
            } catch {
                report(fileNode, "\(what): the key file '\(resolved)' \(error.description)")
                return nil
            }
        case "gcp_metadata":
            guard let fields = mapping(node, at: what, allowed: ["type", "metadata_url"]) else { return nil }
            var url = ProviderCredentials.defaultMetadataURL
            if let n = fields["metadata_url"], let v = string(n, "\(what) metadata_url") { url = v }
            guard let endpoint = UpstreamEndpoint(parsing: url) else {
                report(fields["metadata_url"] ?? node, "\(what): metadata_url '\(url)' is not an http(s) URL such as \(ProviderCredentials.defaultMetadataURL)")
                return nil
            }
            return .gcpMetadata(metadata: endpoint)
        default:
            let keys = ["type", "tenant_id", "client_id", "client_secret", "authority"]
            guard let fields = mapping(node, at: what, allowed: keys) else { return nil }
            var values: [String: String] = [:]
            for required in ["tenant_id", "client_id", "client_secret"] {
                // The secret's value is never quoted back.
                if let n = fields[required], let v = string(n, "\(what) \(required)") {
                    if v.isEmpty { report(n, "\(what): \(required) is empty") } else { values[required] = v }
                } else if fields[required] == nil {
                    report(declaredKeyNode(node, required) ?? node, "\(what): azure_client_credentials need '\(required)'")
                }
            }
            var authority = ProviderCredentials.defaultAzureAuthority
            if let n = fields["authority"], let v = string(n, "\(what) authority") {
                var trimmed = v
                while trimmed.hasSuffix("/") { trimmed.removeLast() }
                if UpstreamEndpoint(parsing: trimmed) == nil {
                    report(n, "\(what): authority '\(v)' is not an http(s) URL such as \(ProviderCredentials.defaultAzureAuthority)")
                } else {
                    authority = trimmed
                }
            }
            guard let tenant = values["tenant_id"], let client = values["client_id"], let secret = values["client_secret"] else { return nil }
            return .azureClientCredentials(AzureClientCredentials(tenantID: tenant, clientID: client, clientSecret: secret, authority: authority))
        }
    }

    private mutating func readModelMapping(_ node: Node, label: String) -> ModelMapping? {
        guard let pairs = stringPairs(node, "\(label) model_mapping") else { return nil }
        var mapping = ModelMapping()
        for (key, target, keyNode) in pairs {
            if key.string.isEmpty || target.isEmpty {
                report(keyNode, "\(label): model_mapping keys and targets must not be empty")
                continue
            }
            do throws(ModelPattern.InvalidPattern) {
                let pattern = try ModelPattern(key.string)
                if pattern.kind == .exact {
                    mapping.exact[key.string] = target
                    mapping.exactKeys.append(key.string)
                } else {
                    mapping.patterns.append((pattern, target))
                }
            } catch {
                report(keyNode, "\(label): '\(key.string)' is not a valid regular expression: \(error.reason)")
            }
        }
        return mapping
    }

    private mutating func readMasterKeys(_ node: Node) -> [MasterKey] {
        guard let items = sequence(node, "master_keys") else { return [] }
        var keys: [MasterKey] = []
        var seenNames: [String: Int] = [:]
        var seenKeys: [String: Int] = [:]
        for item in items {
            guard let fields = mapping(item, at: "a master key", allowed: ["name", "key", "rate_limit", "allowed_models", "model_limits"])
            else { continue }
            let before = diagnostics.count
            var name = ""
            if let n = fields["name"], let v = string(n, "master key name") {
                if v.isEmpty { report(n, "a master key's name must not be empty") }
                if let line = seenNames[v] {
                    report(n, "duplicate master key name '\(v)' (first defined on line \(line)); names label metrics and must be unique")
                }
                seenNames[v] = n.mark?.line ?? 0
                name = v
            } else if fields["name"] == nil {
                report(item, "a master key needs a 'name'")
            }
            var key = ""
            if let n = fields["key"], let v = string(n, "master key '\(name)' key") {
                if v.isEmpty { report(n, "master key '\(name)': key must not be empty") }
                if let line = seenKeys[v] {
                    // Never echo the key itself: the error goes to logs.
                    report(n, "master key '\(name)': duplicate key value (also used on line \(line))")
                }
                seenKeys[v] = n.mark?.line ?? 0
                key = v
            } else if fields["key"] == nil {
                report(item, "master key '\(name)' needs a 'key'")
            }
            var rateLimit: RateLimitConfig? = nil
            if let n = fields["rate_limit"] { rateLimit = readRateLimit(n, label: "master key '\(name)'") }
            var allowed: [ModelPattern]? = nil
            if let n = fields["allowed_models"], let items = sequence(n, "master key '\(name)' allowed_models") {
                allowed = []
                for itemNode in items {
                    guard let source = string(itemNode, "allowed_models entry") else { continue }
                    do throws(ModelPattern.InvalidPattern) {
                        allowed?.append(try ModelPattern(source))
                    } catch {
                        report(itemNode, "master key '\(name)': '\(source)' is not a valid regular expression: \(error.reason)")
                    }
                }
            }
            var modelLimits: [ModelLimit] = []
            if let n = fields["model_limits"] { modelLimits = readModelLimits(n, label: "master key '\(name)'") }
            if diagnostics.count == before {
                keys.append(MasterKey(name: name, key: key, rateLimit: rateLimit, allowedModels: allowed, modelLimits: modelLimits))
            }
        }
        return keys
    }

    /// `model_limits`: pattern -> rate limit, in file order.
    private mutating func readModelLimits(_ node: Node, label: String) -> [ModelLimit] {
        guard case .mapping(let map) = node else {
            report(node, "\(label) model_limits must be a mapping of model patterns to limits")
            return []
        }
        var limits: [ModelLimit] = []
        var seen: Set<String> = []
        for (keyNode, valueNode) in map {
            guard let source = keyNode.scalar?.string, !source.isEmpty else {
                report(keyNode, "\(label): model_limits keys must be model patterns (strings)")
                continue
            }
            if !seen.insert(source).inserted {
                report(keyNode, "\(label): duplicate model_limits pattern '\(source)'")
                continue
            }
            let pattern: ModelPattern
            do throws(ModelPattern.InvalidPattern) {
                pattern = try ModelPattern(source)
            } catch {
                report(keyNode, "\(label): model_limits pattern '\(source)' is not a valid regular expression: \(error.reason)")
                continue
            }
            guard let rateLimit = readRateLimit(valueNode, label: "\(label) model_limits '\(source)'") else { continue }
            limits.append(ModelLimit(source: source, pattern: pattern, limits: rateLimit))
        }
        return limits
    }

    private mutating func readRateLimit(_ node: Node, label: String) -> RateLimitConfig? {
        guard let fields = mapping(node, at: "\(label) rate_limit", allowed: ["requests_per_second", "burst_size", "tokens_per_minute"])
        else { return nil }
        guard let rpsNode = fields["requests_per_second"] else {
            report(node, "\(label) rate_limit needs 'requests_per_second'")
            return nil
        }
        guard let rps = number(rpsNode, "requests_per_second"), rps > 0 else {
            report(rpsNode, "\(label): requests_per_second must be a number > 0")
            return nil
        }
        var burst = max(rps, 1)
        if let n = fields["burst_size"], let v = int(n, "burst_size", min: 1) { burst = Double(v) }
        var tpm: Int? = nil
        if let n = fields["tokens_per_minute"], let v = int(n, "tokens_per_minute", min: 1) { tpm = v }
        return RateLimitConfig(requestsPerSecond: rps, burstSize: burst, tokensPerMinute: tpm)
    }

    private mutating func readHealthCheck(_ node: Node, into health: inout HealthCheckConfig) {
        let keys = ["enabled", "interval_seconds", "timeout_seconds", "path", "unhealthy_threshold", "healthy_threshold"]
        guard let fields = mapping(node, at: "health_check", allowed: keys) else { return }
        if let n = fields["enabled"], let v = bool(n, "health_check.enabled") { health.enabled = v }
        if let n = fields["interval_seconds"], let v = seconds(n, "health_check.interval_seconds") { health.intervalSeconds = v }
        if let n = fields["timeout_seconds"], let v = seconds(n, "health_check.timeout_seconds") { health.timeoutSeconds = v }
        if let n = fields["path"], let v = string(n, "health_check.path") {
            if !v.hasPrefix("/") { report(n, "health_check.path must start with '/', e.g. /models") } else { health.path = v }
        }
        if let n = fields["unhealthy_threshold"], let v = int(n, "health_check.unhealthy_threshold", min: 1) {
            health.unhealthyThreshold = v
        }
        if let n = fields["healthy_threshold"], let v = int(n, "health_check.healthy_threshold", min: 1) {
            health.healthyThreshold = v
        }
    }

    // MARK: - Typed readers

    private mutating func mapping(_ node: Node, at context: String, allowed: [String]) -> [String: Node]? {
        guard case .mapping(let map) = node else {
            if isNull(node) { return [:] }
            report(node, "\(context) must be a mapping of keys to values")
            return nil
        }
        var fields: [String: Node] = [:]
        for (keyNode, value) in map {
            guard let key = keyNode.scalar?.string else {
                report(keyNode, "\(context): keys must be plain strings")
                continue
            }
            if !allowed.contains(key) {
                var message = "unknown key '\(key)' in \(context)"
                if let suggestion = closest(to: key, in: allowed) { message += "; did you mean '\(suggestion)'?" }
                report(keyNode, message)
                continue
            }
            if fields[key] != nil {
                report(keyNode, "duplicate key '\(key)' in \(context)")
                continue
            }
            if isNull(value) { continue }
            fields[key] = value
        }
        return fields
    }

    /// The key node of `key` when the mapping declares it, even with a null value.
    private func declaredKeyNode(_ node: Node, _ key: String) -> Node? {
        guard case .mapping(let map) = node else { return nil }
        return map.first { $0.key.scalar?.string == key }?.key
    }

    private mutating func sequence(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let items) = node else {
            report(node, "\(what) must be a list")
            return nil
        }
        return Array(items)
    }

    /// A mapping whose keys and values are strings (headers, model_mapping).
    private mutating func stringPairs(_ node: Node, _ what: String) -> [(key: Node.Scalar, value: String, node: Node)]? {
        guard case .mapping(let map) = node else {
            report(node, "\(what) must be a mapping")
            return nil
        }
        var pairs: [(Node.Scalar, String, Node)] = []
        var seen: Set<String> = []
        for (keyNode, valueNode) in map {
            guard let key = keyNode.scalar, let value = valueNode.scalar else {
                report(keyNode, "\(what): keys and values must be strings")
                continue
            }
            if !seen.insert(key.string).inserted {
                report(keyNode, "\(what): duplicate key '\(key.string)'")
                continue
            }
            pairs.append((key, value.string, keyNode))
        }
        return pairs
    }

    /// Headers the gateway sends (a provider's, the collector's): valid
    /// names, values without line breaks. A value is never quoted back: it
    /// is often a key.
    private mutating func headerPairs(_ node: Node, _ what: String, label: String) -> [(name: String, value: String)] {
        guard let pairs = stringPairs(node, what) else { return [] }
        var headers: [(name: String, value: String)] = []
        for (key, value, keyNode) in pairs {
            if !HeaderName.isValid(key.string) {
                report(keyNode, "\(label): '\(key.string)' is not a valid HTTP header name")
            } else if value.contains(where: { $0 == "\r" || $0 == "\n" }) {
                report(keyNode, "\(label): the value of header '\(key.string)' contains a line break")
            } else {
                headers.append((key.string, value))
            }
        }
        return headers
    }

    private mutating func string(_ node: Node, _ what: String) -> String? {
        guard let scalar = node.scalar else {
            report(node, "\(what) must be a string")
            return nil
        }
        return scalar.string
    }

    private mutating func bool(_ node: Node, _ what: String) -> Bool? {
        guard let scalar = node.scalar else {
            report(node, "\(what) must be true or false")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            report(node, "\(what) must be true or false, not '\(scalar.string)'")
            return nil
        }
    }

    private mutating func int(_ node: Node, _ what: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let scalar = node.scalar, let value = Int(scalar.string.filter { $0 != "_" }) else {
            report(node, "\(what) must be an integer, not '\(node.scalar?.string ?? "a collection")'")
            return nil
        }
        if let min, value < min {
            report(node, max == nil ? "\(what) must be >= \(min), not \(value)" : "\(what) must be between \(min) and \(max!), not \(value)")
            return nil
        }
        if let max, value > max {
            report(node, "\(what) must be between \(min ?? Int.min) and \(max), not \(value)")
            return nil
        }
        return value
    }

    private mutating func number(_ node: Node, _ what: String) -> Double? {
        guard let scalar = node.scalar, let value = Double(scalar.string), value.isFinite else {
            report(node, "\(what) must be a number, not '\(node.scalar?.string ?? "a collection")'")
            return nil
        }
        return value
    }

    private mutating func seconds(_ node: Node, _ what: String, allowZero: Bool = false) -> Double? {
        guard let value = number(node, what) else { return nil }
        if value < 0 || (!allowZero && value == 0) {
            report(node, "\(what) must be a number of seconds \(allowZero ? ">= 0" : "> 0"), not \(node.scalar?.string ?? "")")
            return nil
        }
        return value
    }

    private func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: - Reporting

    private mutating func report(_ node: Node, _ message: String) {
        report(line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message)
    }

    private mutating func report(line: Int, column: Int, _ message: String) {
        diagnostics.append(ConfigDiagnostic(file: file, line: line, column: column, message: message))
    }

    private func yamlDiagnostic(_ error: any Error) -> ConfigDiagnostic {
        if let yaml = error as? YamlError {
            switch yaml {
            case .scanner(let context, let problem, let mark, _),
                .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                let detail = context.map { "\($0.text) (line \($0.mark.line)): " } ?? ""
                return ConfigDiagnostic(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(detail)\(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                return ConfigDiagnostic(
                    file: file, line: context.mark.line, column: context.mark.column,
                    message: "duplicate keys \(duplicates.joined(separator: ", ")) in one mapping")
            default:
                break
            }
        }
        return ConfigDiagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
    }

    private func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
        guard let (candidate, distance) = scored, distance <= max(2, key.count / 3) else { return nil }
        return candidate
    }

    private func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// RFC 9110 token characters.
enum HeaderName {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// swift-log level names as operators write them.
public enum LogLevelName {
    static let all = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    public static func parse(_ name: String) -> String? {
        let lower = name.lowercased()
        if lower == "warn" { return "warning" }
        return all.contains(lower) ? lower : nil
    }
}
