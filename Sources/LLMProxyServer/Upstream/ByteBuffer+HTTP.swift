import LLMProxyCore
import NIOCore

extension ByteBuffer {
    /// `name: value` and CRLF, for heads written as bytes in both directions.
    /// One capacity check and two copies: four separate writes cost twice as
    /// much, and a head has a dozen of these.
    mutating func writeHTTPHeader(_ name: String, _ value: String) {
        let written = name.utf8.withContiguousStorageIfAvailable { name in
            value.utf8.withContiguousStorageIfAvailable { value in
                writeWithUnsafeMutableBytes(minimumWritableBytes: name.count + value.count + 4) { out in
                    var at = out.baseAddress!
                    // An empty string's buffer may have no base address: nothing to copy then.
                    if let source = name.baseAddress { at.copyMemory(from: source, byteCount: name.count) }
                    at += name.count
                    at.storeBytes(of: UInt16(0x203A).littleEndian, as: UInt16.self)  // ": "
                    at += 2
                    if let source = value.baseAddress { at.copyMemory(from: source, byteCount: value.count) }
                    at += value.count
                    at.storeBytes(of: UInt16(0x0A0D).littleEndian, as: UInt16.self)  // CRLF
                    return name.count + value.count + 4
                }
            }
        }
        if (written ?? nil) == nil {
            writeString(name)
            writeStaticString(": ")
            writeString(value)
            writeStaticString("\r\n")
        }
    }

    /// `name: value` and CRLF for a decimal value, without making a `String` of it.
    mutating func writeHTTPHeader(_ name: StaticString, decimal value: Int) {
        writeStaticString(name)
        writeStaticString(": ")
        writeDecimal(value)
        writeStaticString("\r\n")
    }

    /// One empty buffer for every place that needs one: `ByteBuffer()`
    /// allocates storage each time.
    static let sharedEmpty = ByteBuffer()
}
