/// Replaces `${VAR}`, `${VAR:-default}` and `$$` in the config text before it
/// is parsed, so a secret never has to be written into the file.
///
/// YAML comments are left alone: the shipped config carries commented examples
/// such as `# api_key: ${OPENAI_API_KEY}`, and an unset variable in a comment
/// must not stop the gateway from starting.
public enum EnvironmentInterpolation {
    public static func interpolate(
        _ text: String,
        environment: [String: String],
        file: String
    ) throws(ConfigError) -> String {
        var output = String()
        output.reserveCapacity(text.utf8.count)
        var diagnostics: [ConfigDiagnostic] = []
        var lineNumber = 0
        // Split on the byte: a `Character` split costs a grapheme break per
        // character, and never splits CRLF lines ("\r\n" is one Character).
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if lineNumber > 1 { output.append("\n") }
            let content = Substring(line)
            // Most lines have nothing to replace; only `$` starts a reference.
            guard line.contains(UInt8(ascii: "$")) else {
                output.append(contentsOf: content)
                continue
            }
            let commentStart = yamlCommentStart(in: content)
            let active = content[content.startIndex..<commentStart]
            output.append(
                interpolateLine(active, environment: environment, file: file, line: lineNumber, diagnostics: &diagnostics))
            output.append(contentsOf: content[commentStart...])
        }
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
        return output
    }

    private static func interpolateLine(
        _ line: Substring,
        environment: [String: String],
        file: String,
        line lineNumber: Int,
        diagnostics: inout [ConfigDiagnostic]
    ) -> String {
        var result = String()
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            guard character == "$" else {
                result.append(character)
                index = line.index(after: index)
                continue
            }
            let next = line.index(after: index)
            if next < line.endIndex, line[next] == "$" {
                result.append("$")
                index = line.index(after: next)
                continue
            }
            guard next < line.endIndex, line[next] == "{",
                let close = line[next...].firstIndex(of: "}")
            else {
                result.append(character)
                index = next
                continue
            }
            let column = line.distance(from: line.startIndex, to: index) + 1
            let expression = line[line.index(after: next)..<close]
            let name: Substring
            let fallback: Substring?
            if let separator = expression.range(of: ":-") {
                name = expression[expression.startIndex..<separator.lowerBound]
                fallback = expression[separator.upperBound...]
            } else {
                name = expression
                fallback = nil
            }
            if !isValidName(name) {
                diagnostics.append(
                    ConfigDiagnostic(
                        file: file, line: lineNumber, column: column,
                        message: "'${\(expression)}' is not a valid variable reference; use ${NAME} or ${NAME:-default}, or $$ for a literal '$'"))
            } else if let value = environment[String(name)] {
                result.append(value)
            } else if let fallback {
                result.append(contentsOf: fallback)
            } else {
                diagnostics.append(
                    ConfigDiagnostic(
                        file: file, line: lineNumber, column: column,
                        message: "environment variable '\(name)' is not set and has no default; set it or write ${\(name):-default}"))
            }
            index = line.index(after: close)
        }
        return result
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// Where a YAML comment starts on this line: a `#` at the start or after
    /// white space, outside a quoted scalar.
    package static func yamlCommentStart(in line: Substring) -> Substring.Index {
        var quote: Character? = nil
        var previous: Character? = nil
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    index = line.index(after: index)
                    if index == line.endIndex { break }
                }
            } else if character == "#" && (previous == nil || previous == " " || previous == "\t") {
                return index
            } else if (character == "\"" || character == "'") && (previous == nil || " \t:[{,-".contains(previous!)) {
                quote = character
            }
            previous = character
            index = line.index(after: index)
        }
        return line.endIndex
    }
}
