/// The configured master keys. Lookup compares the presented key against
/// every configured key in constant time, so neither the position of the
/// first differing byte nor which key matched shows in the timing.
public struct KeyStore: Sendable {
    public let keys: [MasterKey]
    private let keyBytes: [[UInt8]]

    public init(keys: [MasterKey]) {
        self.keys = keys
        self.keyBytes = keys.map { Array($0.key.utf8) }
    }

    /// No master keys configured: the gateway is open to anyone.
    public var isOpen: Bool { keys.isEmpty }

    /// The index of the matching key, or nil.
    public func lookup<Bytes: Collection<UInt8>>(_ presented: Bytes) -> Int? {
        // Over contiguous bytes where the key has them (a header value does):
        // a string view's iterator costs several times more per byte.
        if let found = presented.withContiguousStorageIfAvailable({ find($0) }) { return found }
        return find(presented)
    }

    private func find<Bytes: Collection<UInt8>>(_ presented: Bytes) -> Int? {
        var found = -1
        for (index, candidate) in keyBytes.enumerated() {
            let equal = Self.constantTimeEquals(candidate, presented)
            // Branch-free select, and no early exit: every key is compared.
            let mask = equal ? -1 : 0
            found = (index & mask) | (found & ~mask)
        }
        return found >= 0 ? found : nil
    }

    public func lookup(_ presented: String) -> Int? { lookup(presented.utf8) }

    /// Time depends on the configured key's length only, never on where the
    /// presented bytes differ.
    package static func constantTimeEquals<Bytes: Collection<UInt8>>(_ secret: [UInt8], _ presented: Bytes) -> Bool {
        var difference = UInt64(truncatingIfNeeded: secret.count ^ presented.count)
        var iterator = presented.makeIterator()
        for byte in secret {
            let other = iterator.next() ?? 0
            difference |= UInt64(byte ^ other)
        }
        return difference == 0
    }
}
