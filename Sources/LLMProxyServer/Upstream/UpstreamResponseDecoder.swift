import LLMProxyCore
import NIOCore
import NIOHTTP1

/// NIO's HTTP/1.1 response parser without its watch on outbound writes (which
/// would make every write go through it as an `HTTPClientRequestPart`): the
/// connection writes requests as bytes and tells the parser each request's
/// method itself, which it needs to know that a response to HEAD has no body.
struct UpstreamResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    let parser = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop)

    // The parser keeps only the method of these; sharing them saves an allocation per request.
    private static let postHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
    private static let getHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")

    func expectResponse(to method: HTTPMethod) {
        let head: HTTPRequestHead
        switch method {
        case .POST: head = Self.postHead
        case .GET: head = Self.getHead
        default: head = HTTPRequestHead(version: .http1_1, method: method, uri: "/")
        }
        parser.write(data: .head(head))
    }

    func decoderAdded(context: ChannelHandlerContext) {
        parser.decoderAdded(context: context)
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        parser.decoderRemoved(context: context)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try parser.decode(context: context, buffer: &buffer)
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try parser.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}
