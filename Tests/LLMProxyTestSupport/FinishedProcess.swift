import Foundation

/// A helper process run to its end (a Python script, `redis-cli`, the built
/// binary): its exit status and what it wrote.
package struct FinishedProcess {
    package let status: Int32
    package let output: Data
    package var text: String { String(decoding: output, as: UTF8.self) }

    /// Where the process's standard error goes.
    package enum Errors {
        /// Into `output`, with standard output.
        case withOutput
        /// The test's own standard error.
        case inherited
        case discarded
    }

    /// Runs `process` (its executable, arguments and environment set) and
    /// reads what it writes until it exits.
    package static func run(_ process: Process, errors: Errors = .withOutput) throws -> FinishedProcess {
        let pipe = Pipe()
        process.standardOutput = pipe
        switch errors {
        case .withOutput: process.standardError = pipe
        case .inherited: break
        case .discarded: process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return FinishedProcess(status: process.terminationStatus, output: data)
    }
}
