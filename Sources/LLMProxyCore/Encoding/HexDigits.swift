import NIOCore

/// Hexadecimal digits, written by this one type wherever the gateway needs
/// them: chunk sizes, request ids, JSON `\u` escapes, percent escapes.
///
///     HexDigits.string(255, width: 4)          // "00ff"
///     buffer.writeHexadecimal(26)              // "1a"
@usableFromInline
package enum HexDigits {
    /// The ASCII digit of a value 0-15.
    @inlinable
    package static func ascii(_ nibble: UInt8, uppercase: Bool = false) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : (uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")) - 10 + nibble
    }

    /// How many digits `value` takes without leading zeros (at least one).
    @inlinable
    package static func count(_ value: UInt64) -> Int {
        max(1, (64 - value.leadingZeroBitCount + 3) / 4)
    }

    /// `value` in exactly `width` digits (the low ones, zero-padded), in one
    /// allocation, from a table (a request id is made for every request).
    package static func string(_ value: UInt64, width: Int, uppercase: Bool = false) -> String {
        let alphabet: StaticString = uppercase ? "0123456789ABCDEF" : "0123456789abcdef"
        return String(unsafeUninitializedCapacity: width) { digits in
            alphabet.withUTF8Buffer { table in
                var rest = value
                var position = width
                while position > 0 {
                    position -= 1
                    digits[position] = table[Int(truncatingIfNeeded: rest & 0xF)]
                    rest >>= 4
                }
            }
            return width
        }
    }
}

extension ByteBuffer {
    /// `value` in lower-case hex without leading zeros: a chunk-size line.
    // Inlinable: the client writer calls it for every chunk of a stream.
    @inlinable
    package mutating func writeHexadecimal(_ value: Int) {
        let unsigned = UInt64(value)
        let digits = HexDigits.count(unsigned)
        writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { out in
            for position in 0..<digits {
                let nibble = UInt8(truncatingIfNeeded: unsigned >> UInt64(4 * (digits - 1 - position))) & 0xF
                out[position] = HexDigits.ascii(nibble)
            }
            return digits
        }
    }
}
