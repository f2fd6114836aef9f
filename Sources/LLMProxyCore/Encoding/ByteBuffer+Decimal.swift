import NIOCore

extension ByteBuffer {
    /// A non-negative integer in ASCII decimal (status codes, lengths), in
    /// exactly as many bytes as it needs.
    package mutating func writeDecimal(_ value: Int) {
        precondition(value >= 0)
        writeWithUnsafeMutableBytes(minimumWritableBytes: ByteCursor.decimalDigits(value)) { memory in
            var digits = ByteCursor(memory)
            digits.writeDecimal(value)
            return digits.count
        }
    }
}
