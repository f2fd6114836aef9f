import ArgumentParser
import Foundation
import LLMProxyCore
import LLMProxyServer
import Logging
import ServiceLifecycle

@main
struct LLMProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm-proxy",
        abstract: "An OpenAI-compatible LLM gateway.",
        subcommands: [Serve.self, Check.self, Version.self],
        defaultSubcommand: Serve.self)
}

/// `--config`, declared by each command that reads the config: an
/// `@OptionGroup` shared by both made ArgumentParser reflect over one more
/// type on every start (1.7 million instructions, 5% of exec to the first
/// `/health` 200; README, "Start").
private let configHelp: ArgumentHelp = "Path to config.yaml (env CONFIG_PATH; default ./config.yaml)."

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the gateway.")

    @Option(name: .long, help: configHelp) var config: String?
    @Option(name: .long, help: "Listen address (env HOST; default 0.0.0.0).") var host: String?
    @Option(name: .long, help: "Listen port (env PORT; default 18000).") var port: Int?

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
    }

    func run() async throws {
        let sources: SettingSources
        let snapshot: RuntimeConfig
        do throws(ConfigError) {
            sources = try SettingSources.fromProcess(flags: SettingOverrides(host: host, port: port), configPathFlag: config)
            snapshot = try ConfigReloader.loadSnapshot(sources: sources, version: 1)
        } catch {
            FileHandle.standardError.write(Data("llm-proxy: the config is invalid:\n\(error.description)\n".utf8))
            throw ExitCode(1)
        }
        // The loops sample (`tracing.sample_ratio`, or these variables, read
        // into the config); swift-otel, which reads the environment too,
        // would sample those spans a second time.
        unsetenv("OTEL_TRACES_SAMPLER")
        unsetenv("OTEL_TRACES_SAMPLER_ARG")
        LogSetup.bootstrap(format: snapshot.config.logFormat ?? .text, level: LogSetup.level(snapshot.config.logLevel))
        let logger = Logger(label: "llm-proxy")
        let openFiles = OpenFileLimit.raiseToHardLimit()
        logger.info("starting", metadata: ["open_file_limit": "\(openFiles.map(String.init) ?? "unknown")", "version": "\(LLMProxyVersion.current)"])
        let gateway = try Gateway(config: snapshot, logger: logger)
        let service = GatewayService(gateway: gateway, reloader: ConfigReloader(gateway: gateway, sources: sources))
        // Named here: without a name, ServiceGroup interpolates the service,
        // a protocol-conformance scan of the whole binary (1% of the start).
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, serviceName: service.description)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate the config; print every error with line:column.")

    @Option(name: .long, help: configHelp) var config: String?

    func run() throws {
        do throws(ConfigError) {
            let sources = try SettingSources.fromProcess(flags: SettingOverrides(), configPathFlag: config)
            let snapshot = try ConfigReloader.loadSnapshot(sources: sources, version: 1)
            print(snapshot.summary)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n\(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s")\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("llm-proxy \(LLMProxyVersion.current)")
    }
}
