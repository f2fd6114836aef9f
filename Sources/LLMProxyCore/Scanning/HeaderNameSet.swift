import NIOHTTP1

/// Header names to match case-insensitively. Which lengths occur is kept as a
/// bit mask, so most names are ruled out without comparing a byte, and the
/// names are grouped by length, so the rest are compared with one or two
/// names rather than all of them.
package struct HeaderNameSet: Sendable {
    /// Names' UTF-8 bytes by length; names of 63 bytes or more share the last slot.
    private let byLength: [[[UInt8]]]
    private let lengths: UInt64

    package init(_ names: [String]) {
        var byLength = Array(repeating: [[UInt8]](), count: 64)
        for name in names { byLength[min(name.utf8.count, 63)].append(Array(name.utf8)) }
        self.byLength = byLength
        lengths = names.reduce(0) { $0 | 1 << UInt64(min($1.utf8.count, 63)) }
    }

    /// Over the name's contiguous bytes (what NIO's header strings have):
    /// the generic `StringProtocol` path cost ~150 instructions a call.
    package func contains(_ name: String) -> Bool {
        let slot = min(name.utf8.count, 63)
        guard lengths & 1 << UInt64(slot) != 0 else { return false }
        let candidates = byLength[slot]
        return name.utf8.withContiguousStorageIfAvailable { bytes in
            candidates.contains { candidate in candidate.withUnsafeBufferPointer { bytes.equalsIgnoringASCIICase($0) } }
        } ?? candidates.contains { name.utf8.elementsEqualIgnoringASCIICase($0) }
    }

    package func contains(_ name: some StringProtocol) -> Bool { contains(String(name)) }
}
