import LLMProxyCore

/// Every problem `ConfigParser` finds in `text` (each `file:line:column:
/// error: …`), or "" when it parses.
package func configErrors(_ text: String, file: String = "c.yaml") -> String {
    do {
        _ = try ConfigParser.parse(text, file: file)
        return ""
    } catch {
        return "\(error)"
    }
}
