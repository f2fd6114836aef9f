import NIOCore

extension ByteBuffer {
    /// `name: value` and CRLF, for heads written as bytes in both directions.
    mutating func writeHTTPHeader(_ name: String, _ value: String) {
        writeString(name)
        writeStaticString(": ")
        writeString(value)
        writeStaticString("\r\n")
    }

    /// One empty buffer for every place that needs one: `ByteBuffer()`
    /// allocates storage each time.
    static let sharedEmpty = ByteBuffer()
}
