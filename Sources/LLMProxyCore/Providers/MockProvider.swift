import Foundation
import NIOCore

/// The `mock` provider: answers inside the gateway, with no network, so the
/// shipped config serves out of the box and clients can be load-tested
/// without spending tokens. A chat completion echoes the last user message;
/// streamed, it arrives in several SSE chunks and ends with a `usage` block
/// and `data: [DONE]`, exactly as OpenAI's streams do.
public enum MockProvider {
    public struct Response {
        public var contentType: String
        /// One element per write; a stream sends each as its own chunk.
        public var chunks: [String]
        public var status = 200
    }

    /// `responseID`: the stored response a call names (`GET /v1/responses/{id}` and its kin).
    public static func respond(to api: API, body: ByteBuffer, upstreamModel: String, responseID: String? = nil) -> Response {
        let request = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        let stream = request["stream"] as? Bool ?? false
        let created = Int(Date().timeIntervalSince1970)
        let id = "mock-\(UInt32.random(in: 0...UInt32.max))"
        switch api {
        case .embeddings:
            let inputs: [String]
            if let text = request["input"] as? String { inputs = [text] } else { inputs = (request["input"] as? [Any])?.map { "\($0)" } ?? [""] }
            let data = inputs.enumerated().map { index, text in
                "{\"object\":\"embedding\",\"index\":\(index),\"embedding\":[\(embedding(of: text).map { String($0) }.joined(separator: ","))]}"
            }
            let tokens = inputs.reduce(0) { $0 + tokenCount($1) }
            return Response(
                contentType: "application/json",
                chunks: ["{\"object\":\"list\",\"data\":[\(data.joined(separator: ","))],\"model\":\(JSONString.quoted(upstreamModel)),\"usage\":{\"prompt_tokens\":\(tokens),\"total_tokens\":\(tokens)}}"])
        case .completions:
            let prompt = (request["prompt"] as? String) ?? ((request["prompt"] as? [String])?.last ?? "")
            let text = "Echo: \(prompt)"
            let counts = UsageObserver.Usage(prompt: tokenCount(prompt), completion: tokenCount(text), total: tokenCount(prompt) + tokenCount(text))
            let usage = usageJSON(counts)
            if stream {
                var chunks = pieces(of: text).map {
                    "data: {\"id\":\"cmpl-\(id)\",\"object\":\"text_completion\",\"created\":\(created),\"model\":\(JSONString.quoted(upstreamModel)),\"choices\":[{\"index\":0,\"text\":\(JSONString.quoted($0)),\"finish_reason\":null}]}\n\n"
                }
                chunks.append("data: {\"id\":\"cmpl-\(id)\",\"object\":\"text_completion\",\"created\":\(created),\"model\":\(JSONString.quoted(upstreamModel)),\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"stop\"}],\"usage\":\(usage)}\n\n")
                chunks.append("data: [DONE]\n\n")
                return Response(contentType: "text/event-stream", chunks: chunks)
            }
            return Response(
                contentType: "application/json",
                chunks: ["{\"id\":\"cmpl-\(id)\",\"object\":\"text_completion\",\"created\":\(created),\"model\":\(JSONString.quoted(upstreamModel)),\"choices\":[{\"index\":0,\"text\":\(JSONString.quoted(text)),\"finish_reason\":\"stop\"}],\"usage\":\(usage)}"])
        case .chatCompletions, .geminiGenerateContent, .geminiStreamGenerateContent:
            let messages = request["messages"] as? [[String: Any]] ?? []
            let lastUser = messages.last { ($0["role"] as? String) == "user" }
            let prompt = text(of: lastUser?["content"])
            let reply = prompt.isEmpty ? "Hello from the llm-proxy mock provider." : prompt
            let promptTokens = messages.reduce(0) { $0 + tokenCount(text(of: $1["content"])) }
            let counts = UsageObserver.Usage(prompt: promptTokens, completion: tokenCount(reply), total: promptTokens + tokenCount(reply))
            let usage = usageJSON(counts)
            let prefix = "{\"id\":\"chatcmpl-\(id)\",\"object\":\"chat.completion.chunk\",\"created\":\(created),\"model\":\(JSONString.quoted(upstreamModel)),"
            if stream {
                var chunks = ["data: \(prefix)\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"]
                chunks += pieces(of: reply).map {
                    "data: \(prefix)\"choices\":[{\"index\":0,\"delta\":{\"content\":\(JSONString.quoted($0))},\"finish_reason\":null}]}\n\n"
                }
                chunks.append("data: \(prefix)\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
                chunks.append("data: \(prefix)\"choices\":[],\"usage\":\(usage)}\n\n")
                chunks.append("data: [DONE]\n\n")
                return Response(contentType: "text/event-stream", chunks: chunks)
            }
            return Response(
                contentType: "application/json",
                chunks: ["{\"id\":\"chatcmpl-\(id)\",\"object\":\"chat.completion\",\"created\":\(created),\"model\":\(JSONString.quoted(upstreamModel)),\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\(JSONString.quoted(reply))},\"finish_reason\":\"stop\"}],\"usage\":\(usage)}"])
        case .messages, .countTokens:
            return anthropicMessages(request, api: api, stream: stream, id: id, upstreamModel: upstreamModel)
        case .responses:
            return responses(request, stream: stream, id: id, created: created, upstreamModel: upstreamModel)
        case .responsesRetrieve, .responsesDelete, .responsesCancel, .responsesInputItems:
            return storedResponse(api, id: responseID ?? "", created: created)
        case .moderations, .imagesGenerations, .audioSpeech, .audioTranscriptions, .audioTranslations:
            // The API table gives these no mock; an empty object keeps the answer total.
            return Response(contentType: "application/json", chunks: ["{}"])
        }
    }

    /// OpenAI's Responses API: a response whose output echoes the last user
    /// input, or its events (`response.created` … `response.completed`) when
    /// streamed, as the OpenAI SDKs and Agents SDK read them.
    private static func responses(_ request: [String: Any], stream: Bool, id: String, created: Int, upstreamModel: String) -> Response {
        let prompt: String
        if let text = request["input"] as? String {
            prompt = text
        } else {
            let items = request["input"] as? [[String: Any]] ?? []
            prompt = text(of: items.last { ($0["role"] as? String) == "user" }?["content"])
        }
        let reply = prompt.isEmpty ? "Hello from the llm-proxy mock provider." : prompt
        let instructions = text(of: request["instructions"])
        let inputTokens = tokenCount(prompt) + (instructions.isEmpty ? 0 : tokenCount(instructions))
        let counts = UsageObserver.Usage(prompt: inputTokens, completion: tokenCount(reply), total: inputTokens + tokenCount(reply))
        let responseID = JSONString.quoted("resp_\(id)")
        let itemID = JSONString.quoted("msg_\(id)")
        let model = JSONString.quoted(upstreamModel)
        let usage = "{\"input_tokens\":\(counts.prompt),\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":\(counts.completion),"
            + "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":\(counts.total)}"
        func item(_ text: String, status: String) -> String {
            "{\"type\":\"message\",\"id\":\(itemID),\"status\":\"\(status)\",\"role\":\"assistant\",\"content\":"
                + (text.isEmpty && status == "in_progress" ? "[]" : "[{\"type\":\"output_text\",\"text\":\(JSONString.quoted(text)),\"annotations\":[]}]") + "}"
        }
        func response(status: String, output: String, usage: String) -> String {
            "{\"id\":\(responseID),\"object\":\"response\",\"created_at\":\(created),\"status\":\"\(status)\",\"model\":\(model),"
                + "\"output\":[\(output)],\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":\(usage)}"
        }
        guard stream else {
            return Response(contentType: "application/json", chunks: [response(status: "completed", output: item(reply, status: "completed"), usage: usage)])
        }
        var sequence = 0
        func event(_ type: String, _ fields: String) -> String {
            defer { sequence += 1 }
            return "event: \(type)\ndata: {\"type\":\"\(type)\",\"sequence_number\":\(sequence),\(fields)}\n\n"
        }
        let part = "{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}"
        var chunks = [
            event("response.created", "\"response\":\(response(status: "in_progress", output: "", usage: "null"))"),
            event("response.in_progress", "\"response\":\(response(status: "in_progress", output: "", usage: "null"))"),
            event("response.output_item.added", "\"output_index\":0,\"item\":\(item("", status: "in_progress"))"),
            event("response.content_part.added", "\"item_id\":\(itemID),\"output_index\":0,\"content_index\":0,\"part\":\(part)"),
        ]
        chunks += pieces(of: reply).map {
            event("response.output_text.delta", "\"item_id\":\(itemID),\"output_index\":0,\"content_index\":0,\"delta\":\(JSONString.quoted($0))")
        }
        let done = "{\"type\":\"output_text\",\"text\":\(JSONString.quoted(reply)),\"annotations\":[]}"
        chunks.append(event("response.output_text.done", "\"item_id\":\(itemID),\"output_index\":0,\"content_index\":0,\"text\":\(JSONString.quoted(reply))"))
        chunks.append(event("response.content_part.done", "\"item_id\":\(itemID),\"output_index\":0,\"content_index\":0,\"part\":\(done)"))
        chunks.append(event("response.output_item.done", "\"output_index\":0,\"item\":\(item(reply, status: "completed"))"))
        chunks.append(event("response.completed", "\"response\":\(response(status: "completed", output: item(reply, status: "completed"), usage: usage))"))
        return Response(contentType: "text/event-stream", chunks: chunks)
    }

    /// The mock keeps nothing, so a response it made (`resp_mock-…`) is
    /// retrievable as a completed response with its default text; any other
    /// id is another provider's, and gets OpenAI's 404.
    private static func storedResponse(_ api: API, id: String, created: Int) -> Response {
        let quotedID = JSONString.quoted(id)
        guard id.hasPrefix("resp_mock-") else {
            let message = JSONString.quoted("Response with id '\(id)' not found.")
            return Response(
                contentType: "application/json",
                chunks: ["{\"error\":{\"message\":\(message),\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"], status: 404)
        }
        switch api {
        case .responsesDelete:
            return Response(contentType: "application/json", chunks: ["{\"id\":\(quotedID),\"object\":\"response.deleted\",\"deleted\":true}"])
        case .responsesInputItems:
            return Response(contentType: "application/json", chunks: ["{\"object\":\"list\",\"data\":[],\"first_id\":null,\"last_id\":null,\"has_more\":false}"])
        default:
            let status = api == .responsesCancel ? "cancelled" : "completed"
            let reply = JSONString.quoted("Hello from the llm-proxy mock provider.")
            let item = "{\"type\":\"message\",\"id\":\"msg_\(id.dropFirst(5))\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\(reply),\"annotations\":[]}]}"
            return Response(
                contentType: "application/json",
                chunks: ["{\"id\":\(quotedID),\"object\":\"response\",\"created_at\":\(created),\"status\":\"\(status)\",\"model\":\"mock\",\"output\":[\(item)],"
                    + "\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":null}"])
        }
    }

    /// Anthropic's Messages API: a message echoing the last user turn, or its
    /// events (`message_start` … `message_stop`) when streamed; `count_tokens`
    /// answers `{"input_tokens": n}`.
    private static func anthropicMessages(_ request: [String: Any], api: API, stream: Bool, id: String, upstreamModel: String) -> Response {
        let messages = request["messages"] as? [[String: Any]] ?? []
        let system = text(of: request["system"])
        let inputTokens = messages.reduce(system.isEmpty ? 0 : tokenCount(system)) { $0 + tokenCount(text(of: $1["content"])) }
        if api == .countTokens {
            return Response(
                contentType: "application/json",
                chunks: ["{\"input_tokens\":\(inputTokens)}"])
        }
        let lastUser = messages.last { ($0["role"] as? String) == "user" }
        let prompt = text(of: lastUser?["content"])
        let reply = prompt.isEmpty ? "Hello from the llm-proxy mock provider." : prompt
        let outputTokens = tokenCount(reply)
        let model = JSONString.quoted(upstreamModel)
        let messageID = JSONString.quoted("msg_\(id)")
        guard stream else {
            return Response(
                contentType: "application/json",
                chunks: ["{\"id\":\(messageID),\"type\":\"message\",\"role\":\"assistant\",\"model\":\(model),"
                    + "\"content\":[{\"type\":\"text\",\"text\":\(JSONString.quoted(reply))}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                    + "\"usage\":{\"input_tokens\":\(inputTokens),\"output_tokens\":\(outputTokens)}}"])
        }
        func event(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)\n\n" }
        var chunks = [
            event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\(messageID),\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\(model),\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":\(inputTokens),\"output_tokens\":1}}}"),
            event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
        ]
        chunks += pieces(of: reply).map {
            event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\(JSONString.quoted($0))}}")
        }
        chunks.append(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"))
        chunks.append(event(
            "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(outputTokens)}}"))
        chunks.append(event("message_stop", "{\"type\":\"message_stop\"}"))
        return Response(contentType: "text/event-stream", chunks: chunks)
    }

    /// Content is a string, or a list of parts of which the text ones count.
    private static func text(of content: Any?) -> String {
        if let string = content as? String { return string }
        if let parts = content as? [[String: Any]] { return parts.compactMap { $0["text"] as? String }.joined(separator: " ") }
        return ""
    }

    /// Roughly OpenAI's rule of thumb: a token per four characters.
    package static func tokenCount(_ text: String) -> Int { max(1, (text.utf8.count + 3) / 4) }

    private static func usageJSON(_ usage: UsageObserver.Usage) -> String {
        "{\"prompt_tokens\":\(usage.prompt),\"completion_tokens\":\(usage.completion),\"total_tokens\":\(usage.total)}"
    }

    /// Splits on word boundaries into a few pieces, keeping the spaces.
    package static func pieces(of text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " && current.count >= 4 {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces.isEmpty ? [""] : pieces
    }

    /// A deterministic 8-dimensional unit vector, so equal inputs embed equally.
    private static func embedding(of text: String) -> [Double] {
        var hash: UInt64 = 1469598103934665603
        var values: [Double] = []
        for _ in 0..<8 {
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
            hash = (hash ^ 0x9E) &* 1099511628211
            values.append(Double(hash % 2001) / 1000 - 1)
        }
        let norm = max(values.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-9)
        return values.map { ($0 / norm * 1e6).rounded() / 1e6 }
    }
}
