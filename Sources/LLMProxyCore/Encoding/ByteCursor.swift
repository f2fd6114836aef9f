/// Writes into memory reserved beforehand for a piece whose longest form is
/// known before it is written (an access-log line), with one bounds check
/// per write and nothing else. Each of `ByteBuffer`'s own writes checks the
/// storage's uniqueness and capacity and rebases a slice: ~140 instructions
/// for a field name of ten bytes, 5,000 for a line of twenty pieces.
///
/// The caller reserves enough (`writeWithUnsafeMutableBytes`) and returns
/// `count`; a write past the reservation is a bug in that bound, and traps
/// rather than write past it.
package struct ByteCursor {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    package private(set) var count = 0

    package init(_ buffer: UnsafeMutableRawBufferPointer) {
        // `writeWithUnsafeMutableBytes(minimumWritableBytes:)` with a
        // positive minimum always hands over memory.
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    /// The most bytes `writeJSONString` writes for a string of `utf8Count`
    /// bytes: every byte a `\u00XX` (`JSONString`'s longest escape), and the quotes.
    package static func jsonStringBound(utf8Count: Int) -> Int { 6 * utf8Count + 2 }

    /// How many digits `writeDecimal` writes for `value` (at most 19).
    package static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    package mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(count + bytes.count <= capacity, "ByteCursor: the reserved bound was too small")
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    package mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    package mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    package mutating func write(_ string: String) {
        var string = string
        // Native strings are contiguous; a bridged one is made so once.
        string.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    package mutating func write(byte: UInt8) {
        precondition(count < capacity, "ByteCursor: the reserved bound was too small")
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// A non-negative integer in decimal.
    package mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0)
        let digits = Self.decimalDigits(value)
        precondition(count + digits <= capacity, "ByteCursor: the reserved bound was too small")
        var rest = value
        for position in stride(from: count + digits - 1, through: count, by: -1) {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10), toByteOffset: position, as: UInt8.self)
            rest /= 10
        }
        count += digits
    }

    /// A JSON string literal: the bytes as they are between quotes when
    /// nothing needs escaping (the usual case), else as `JSONString` escapes
    /// them (its rules, in one place).
    package mutating func writeJSONString(_ string: String) {
        guard JSONString.needsEscaping(string) else {
            write(byte: UInt8(ascii: "\""))
            write(string)
            write(byte: UInt8(ascii: "\""))
            return
        }
        write(JSONString.quoted(string))
    }
}
