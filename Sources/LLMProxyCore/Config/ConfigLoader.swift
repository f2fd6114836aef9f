import Foundation

/// Settings that the command line, the environment and `.env` may set over
/// the YAML file. nil leaves the file's value.
public struct SettingOverrides: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var verifySSL: Bool?
    public var providerSuffix: String?
    public var logLevel: String?
    public var logFormat: String?

    public init(host: String? = nil, port: Int? = nil, verifySSL: Bool? = nil, providerSuffix: String? = nil,
                logLevel: String? = nil, logFormat: String? = nil) {
        self.host = host
        self.port = port
        self.verifySSL = verifySSL
        self.providerSuffix = providerSuffix
        self.logLevel = logLevel
        self.logFormat = logFormat
    }
}

/// Where the settings come from, strongest first: flag > environment > `.env` > YAML.
public struct SettingSources: Sendable {
    public var flags: SettingOverrides
    public var configPathFlag: String?
    public var environment: [String: String]
    public var dotEnv: [String: String]

    public init(flags: SettingOverrides = SettingOverrides(), configPathFlag: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment, dotEnv: [String: String] = [:]) {
        self.flags = flags
        self.configPathFlag = configPathFlag
        self.environment = environment
        self.dotEnv = dotEnv
    }

    /// Reads `.env` from the working directory, if there is one.
    public static func fromProcess(flags: SettingOverrides, configPathFlag: String?) throws(ConfigError) -> SettingSources {
        let dotEnvPath = FileManager.default.currentDirectoryPath + "/.env"
        var dotEnv: [String: String] = [:]
        if let text = try? String(contentsOfFile: dotEnvPath, encoding: .utf8) {
            dotEnv = try DotEnv.parse(text, file: ".env")
        }
        return SettingSources(flags: flags, configPathFlag: configPathFlag, dotEnv: dotEnv)
    }

    private func lookup(_ name: String) -> String? { environment[name] ?? dotEnv[name] }

    public var configPath: String { configPathFlag ?? lookup("CONFIG_PATH") ?? "config.yaml" }

    /// Variables for `${VAR}`: the process environment over `.env`, as
    /// docker compose does.
    public var interpolationEnvironment: [String: String] { dotEnv.merging(environment) { _, process in process } }

    /// Flags over environment over `.env`; errors name the variable.
    public func resolvedOverrides() throws(ConfigError) -> SettingOverrides {
        var result = flags
        var diagnostics: [ConfigDiagnostic] = []
        func bad(_ name: String, _ message: String) {
            let origin = environment[name] != nil ? "environment" : ".env"
            diagnostics.append(ConfigDiagnostic(file: origin, line: 0, column: 0, message: "\(name): \(message)"))
        }
        if result.host == nil { result.host = lookup("HOST") }
        if result.port == nil, let text = lookup("PORT") {
            if let port = Int(text), (1...65535).contains(port) { result.port = port } else { bad("PORT", "'\(text)' is not a port between 1 and 65535") }
        }
        if result.verifySSL == nil, let text = lookup("VERIFY_SSL") {
            switch text.lowercased() {
            case "1", "true", "yes", "on": result.verifySSL = true
            case "0", "false", "no", "off": result.verifySSL = false
            default: bad("VERIFY_SSL", "'\(text)' must be true or false")
            }
        }
        if result.providerSuffix == nil { result.providerSuffix = lookup("PROVIDER_SUFFIX") }
        if result.logLevel == nil, let text = lookup("LOG_LEVEL") {
            if LogLevelName.parse(text) != nil { result.logLevel = text } else { bad("LOG_LEVEL", "'\(text)' is not a log level") }
        }
        if result.logFormat == nil, let text = lookup("LOG_FORMAT") {
            if LogFormat(rawValue: text.lowercased()) != nil { result.logFormat = text.lowercased() } else {
                bad("LOG_FORMAT", "'\(text)' must be json or text")
            }
        }
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
        return result
    }
}

/// file -> `${VAR}` interpolation -> YAML -> validation -> overrides -> snapshot.
public enum ConfigLoader {
    public static func load(text: String, file: String, environment: [String: String],
                            overrides: SettingOverrides = SettingOverrides()) throws(ConfigError) -> GatewayConfig {
        let interpolated = try EnvironmentInterpolation.interpolate(text, environment: environment, file: file)
        var config = try ConfigParser.parse(interpolated, file: file)
        config.tracing = TracingConfig.resolve(config.tracing, environment: environment)
        apply(overrides, to: &config)
        return config
    }

    public static func load(path: String, environment: [String: String],
                            overrides: SettingOverrides = SettingOverrides()) throws(ConfigError) -> GatewayConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError([ConfigDiagnostic(file: path, line: 0, column: 0, message: "cannot read the config file: \(error.localizedDescription)")])
        }
        return try load(text: text, file: path, environment: environment, overrides: overrides)
    }

    public static func apply(_ overrides: SettingOverrides, to config: inout GatewayConfig) {
        if let host = overrides.host { config.server.host = host }
        if let port = overrides.port { config.server.port = port }
        if let verify = overrides.verifySSL { config.verifySSL = verify }
        if let suffix = overrides.providerSuffix { config.providerSuffix = suffix.isEmpty ? nil : suffix }
        if let level = overrides.logLevel { config.logLevel = LogLevelName.parse(level) }
        if let format = overrides.logFormat { config.logFormat = LogFormat(rawValue: format) }
    }
}

/// `.env` files as docker compose reads them: `KEY=value`, optional `export`,
/// `#` comments, single or double quotes.
public enum DotEnv {
    public static func parse(_ text: String, file: String) throws(ConfigError) -> [String: String] {
        var values: [String: String] = [:]
        var diagnostics: [ConfigDiagnostic] = []
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "=") else {
                diagnostics.append(ConfigDiagnostic(file: file, line: offset + 1, column: 1, message: "expected KEY=value"))
                continue
            }
            let key = line[line.startIndex..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            } else if let comment = value.range(of: " #") {
                value = String(value[value.startIndex..<comment.lowerBound]).trimmingCharacters(in: .whitespaces)
            }
            values[key] = value
        }
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
        return values
    }
}
