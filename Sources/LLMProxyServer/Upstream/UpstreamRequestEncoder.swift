import LLMProxyCore
import NIOCore
import NIOHTTP1

/// The request to a provider as HTTP/1.1 bytes in one buffer: request line,
/// headers (see `ForwardedHeaders.upstreamRequest`) and the body with only
/// its `model` value replaced. One buffer is one write on the socket, and no
/// `HTTPHeaders` or `HTTPRequestHead` is built only to be serialized again by
/// NIO's encoder: that round trip cost more than the rest of sending.
///
/// Nothing written here needs escaping: client header names and values passed
/// NIO's parser, provider headers passed config validation, the request id is
/// a checked token, and adapters build the target from percent-encoded parts
/// and the client's already-parsed query.
enum UpstreamRequestEncoder {
    /// The body's `model` value (its quotes included) and what replaces it.
    struct ModelReplacement {
        var range: Range<Int>
        var model: String
        /// A JSON string (quoted and, if it must be, escaped); false: a
        /// multipart form field's raw bytes.
        var isJSON = true
    }

    /// How a streamed upload's whole body is framed: the encoder writes the
    /// part in hand, the exchange the rest (`chunk` for chunked ones).
    enum UploadFraming: Equatable {
        /// The client declared this many bytes (before the model is replaced).
        case contentLength(Int)
        case chunked

        /// A part of a chunked body; the terminal chunk for an empty `part`.
        static func chunk(_ part: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
            var buffer = allocator.buffer(capacity: part.readableBytes + 12)
            if part.readableBytes > 0 {
                buffer.writeString(String(part.readableBytes, radix: 16))
                buffer.writeStaticString("\r\n")
                var part = part
                buffer.writeBuffer(&part)
                buffer.writeStaticString("\r\n")
            } else {
                buffer.writeStaticString("0\r\n\r\n")
            }
            return buffer
        }
    }

    static func encode(
        method: HTTPMethod, plan: UpstreamRequestPlan, host: String, client: HTTPHeaders, requestID: String?, authorization: String? = nil,
        traceparent: String? = nil, body: ByteBuffer, replacingModel replacement: ModelReplacement?, upload: UploadFraming? = nil, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        // The model as a JSON string, escaped only if it has to be (rare for a
        // model name): decided once, for both the length and the bytes.
        let escapedModel = replacement.flatMap { $0.isJSON && JSONString.needsEscaping($0.model) ? JSONString.quoted($0.model) : nil }
        let quotes = replacement?.isJSON == false ? 0 : 2
        let lengthChange = replacement.map { (escapedModel?.utf8.count ?? $0.model.utf8.count + quotes) - $0.range.count } ?? 0
        // What this buffer carries of the body, and the whole body's length
        // on the wire (nil: chunked).
        let bodyBytes = body.readableBytes + lengthChange
        let contentLength: Int?
        switch upload {
        case nil: contentLength = bodyBytes
        case .contentLength(let declared): contentLength = declared + lengthChange
        case .chunked: contentLength = nil
        }
        // Sized to fit: a request may wait for its answer for minutes, and
        // 10,000 waiting streams should not each hold a kilobyte of slack.
        var headerBytes = 128 + plan.target.utf8.count + host.utf8.count + (requestID?.utf8.count ?? 0)
        for (name, value) in client { headerBytes += name.utf8.count + value.utf8.count + 4 }
        for header in plan.headers { headerBytes += header.name.utf8.count + header.value.utf8.count + 4 }
        if let authorization { headerBytes += authorization.utf8.count + 17 }
        if let traceparent { headerBytes += traceparent.utf8.count + 15 }
        var buffer = allocator.buffer(capacity: headerBytes + bodyBytes + 12)
        buffer.writeString(method.rawValue)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(plan.target)
        buffer.writeStaticString(" HTTP/1.1\r\n")
        ForwardedHeaders.upstreamRequest(
            client: client, plan: plan, host: host, contentLength: contentLength, requestID: requestID, authorization: authorization,
            traceparent: traceparent
        ) { name, value in
            buffer.writeHTTPHeader(name, value)
        }
        buffer.writeStaticString("\r\n")
        let chunked = upload == .chunked && bodyBytes > 0
        if chunked {
            buffer.writeString(String(bodyBytes, radix: 16))
            buffer.writeStaticString("\r\n")
        }
        if let replacement {
            let start = body.readerIndex
            buffer.writeBytes(body.readableBytesView[start..<(start + replacement.range.lowerBound)])
            if let escapedModel {
                buffer.writeString(escapedModel)
            } else if replacement.isJSON {
                buffer.writeInteger(UInt8(ascii: "\""))
                buffer.writeString(replacement.model)
                buffer.writeInteger(UInt8(ascii: "\""))
            } else {
                buffer.writeString(replacement.model)
            }
            buffer.writeBytes(body.readableBytesView[(start + replacement.range.upperBound)...])
        } else {
            var body = body
            buffer.writeBuffer(&body)
        }
        if chunked { buffer.writeStaticString("\r\n") }
        return buffer
    }
}
