/// A model-name key from `model_mapping` or `allowed_models`, classified the
/// way the spec says: regular expression, wildcard or exact, always matched
/// against the whole name.
public struct ModelPattern: Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case exact
        case wildcard
        case regularExpression
    }

    public let source: String
    public let kind: Kind
    private let compiled: CompiledRegex?

    /// Characters that make a key a regular expression (besides `.*`).
    private static let regexMarkers: Set<Character> = ["^", "$", "+", "?", "(", ")", "[", "]", "{", "}", "|", "\\"]

    public static func kind(of source: String) -> Kind {
        if source.contains(".*") || source.contains(where: { regexMarkers.contains($0) }) {
            return .regularExpression
        }
        return source.contains("*") ? .wildcard : .exact
    }

    /// - Throws: `ModelPattern.InvalidPattern` with the regex engine's reason.
    public init(_ source: String) throws(InvalidPattern) {
        self.source = source
        self.kind = Self.kind(of: source)
        if kind == .regularExpression {
            // Parsed here, so a bad pattern is a config error; its matching
            // program is built by `compile()` or the first match.
            do {
                compiled = CompiledRegex(try Regex(source))
            } catch {
                throw InvalidPattern(reason: "\(error)")
            }
        } else {
            compiled = nil
        }
    }

    public struct InvalidPattern: Error, Sendable {
        public var reason: String
    }

    public var description: String { source }

    /// Builds a regular expression's matching program now (`Regex` builds it
    /// at its first match, the first in a process costing ~1.3 million
    /// instructions). A loaded config does this off the event loops
    /// (`RuntimeConfig.compilePatterns`), so no request pays it.
    public func compile() {
        _ = try? compiled?.regex.wholeMatch(in: "")
    }

    /// The capture groups of a whole-name match (index 0 is the whole name), or
    /// nil when the name does not match.
    public func match(_ name: String) -> [Substring]? {
        switch kind {
        case .exact:
            return name == source ? [Substring(name)] : nil
        case .wildcard:
            return Self.wildcardMatches(pattern: source.utf8, name: name.utf8) ? [Substring(name)] : nil
        case .regularExpression:
            guard let compiled, let match = try? compiled.regex.wholeMatch(in: name) else { return nil }
            return match.output.map { $0.substring ?? "" }
        }
    }

    public func matches(_ name: String) -> Bool { match(name) != nil }

    /// `*` matches any run of characters, everything else is literal. Iterative
    /// with one backtrack point, so `a*b*c*...` cannot go exponential.
    package static func wildcardMatches(pattern: String.UTF8View, name: String.UTF8View) -> Bool {
        let p = Array(pattern)
        let n = Array(name)
        var pi = 0
        var ni = 0
        var starP = -1
        var starN = 0
        while ni < n.count {
            if pi < p.count && p[pi] == UInt8(ascii: "*") {
                starP = pi
                starN = ni
                pi += 1
            } else if pi < p.count && p[pi] == n[ni] {
                pi += 1
                ni += 1
            } else if starP >= 0 {
                pi = starP + 1
                starN += 1
                ni = starN
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// Expands `$1`…`$99` in a mapping target with the captures of a regex match.
    public static func expand(target: String, captures: [Substring]) -> String {
        guard target.contains("$") else { return target }
        var result = String()
        var iterator = Array(target).makeIterator()
        var pending: Character? = iterator.next()
        while let character = pending {
            pending = iterator.next()
            guard character == "$", let first = pending, let firstDigit = first.wholeNumberValue else {
                result.append(character)
                continue
            }
            var number = firstDigit
            pending = iterator.next()
            if let second = pending, let secondDigit = second.wholeNumberValue, number * 10 + secondDigit < captures.count {
                number = number * 10 + secondDigit
                pending = iterator.next()
            }
            if number < captures.count { result.append(contentsOf: captures[number]) }
        }
        return result
    }
}

/// `Regex` is not declared `Sendable`; it is immutable once parsed, and the
/// matching program it builds on first use is stored with an atomic
/// compare-and-swap (loops that race on it each build one, one is kept).
private final class CompiledRegex: @unchecked Sendable {
    package let regex: Regex<AnyRegexOutput>
    package init(_ regex: Regex<AnyRegexOutput>) { self.regex = regex }
}
