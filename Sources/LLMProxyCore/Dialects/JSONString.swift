/// JSON string literals, written without Foundation's encoder.
public enum JSONString {
    public static func append(_ string: String, to output: inout String) {
        output.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output.append("\\\"")
            case "\\": output.append("\\\\")
            case "\n": output.append("\\n")
            case "\r": output.append("\\r")
            case "\t": output.append("\\t")
            case _ where scalar.value < 0x20:
                output.append("\\u" + HexDigits.string(UInt64(scalar.value), width: 4))
            default: output.unicodeScalars.append(scalar)
            }
        }
        output.append("\"")
    }

    public static func quoted(_ string: String) -> String {
        if !needsEscaping(string) { return "\"" + string + "\"" }
        var output = ""
        append(string, to: &output)
        return output
    }

    /// Model names and most messages are plain text that goes between the
    /// quotes as is; checking that on the bytes is much cheaper than the
    /// scalar-by-scalar escaping.
    package static func needsEscaping(_ string: String) -> Bool {
        func special(_ byte: UInt8) -> Bool { byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") }
        // Over the contiguous bytes: `UTF8View`'s iterator costs ~25 instructions a byte.
        return string.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes where special(byte) { return true }
            return false
        } ?? string.utf8.contains(where: special)
    }

}
