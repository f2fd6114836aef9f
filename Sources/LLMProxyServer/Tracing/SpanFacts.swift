import LLMProxyCore
import Tracing

/// What a span says about its request or attempt, as the loop knows it:
/// plain fields, set on the event loop and made into `SpanAttributes` by
/// the exporter task (`attributes`), off the loop.
///
/// Why not `SpanAttributes` on the loop: each of its subscript sets boxes
/// the value in an existential and rehashes a growing dictionary; a traced
/// request's two spans cost ~46,000 instructions on the loop that way
/// (callgrind), a third of what the whole untraced request costs.
struct SpanFacts: Sendable {
    var operation = ""
    var providerName: String?
    /// The config's name of the provider.
    var provider: String?
    var requestModel: String?
    var responseModel: String?
    var serverAddress: String?
    var serverPort: Int?
    var statusCode: Int?
    var inputTokens: Int?
    var outputTokens: Int?
    var requestMethod: String?
    var route: String?
    var requestID: String?
    var keyName: String?
    var retries: Int?
    var timeToFirstByteSeconds: Double?
    var streamInterrupted: Bool?
    var errorType: String?

    /// The attributes under their GenAI convention names; absent facts are left out.
    var attributes: SpanAttributes {
        var attributes = [String: SpanAttribute](minimumCapacity: 18)
        if !operation.isEmpty { attributes[GenAIConventions.operationName] = .string(operation) }
        if let providerName { attributes[GenAIConventions.providerName] = .string(providerName) }
        if let provider { attributes[GenAIConventions.provider] = .string(provider) }
        if let requestModel { attributes[GenAIConventions.requestModel] = .string(requestModel) }
        if let responseModel { attributes[GenAIConventions.responseModel] = .string(responseModel) }
        if let serverAddress { attributes[GenAIConventions.serverAddress] = .string(serverAddress) }
        if let serverPort { attributes[GenAIConventions.serverPort] = .int64(Int64(serverPort)) }
        if let statusCode { attributes[GenAIConventions.statusCode] = .int64(Int64(statusCode)) }
        if let inputTokens { attributes[GenAIConventions.inputTokens] = .int64(Int64(inputTokens)) }
        if let outputTokens { attributes[GenAIConventions.outputTokens] = .int64(Int64(outputTokens)) }
        if let requestMethod { attributes[GenAIConventions.requestMethod] = .string(requestMethod) }
        if let route { attributes[GenAIConventions.route] = .string(route) }
        if let requestID { attributes[GenAIConventions.requestID] = .string(requestID) }
        if let keyName { attributes[GenAIConventions.keyName] = .string(keyName) }
        if let retries { attributes[GenAIConventions.retries] = .int64(Int64(retries)) }
        if let timeToFirstByteSeconds { attributes[GenAIConventions.timeToFirstByte] = .double(timeToFirstByteSeconds) }
        if let streamInterrupted { attributes[GenAIConventions.streamInterrupted] = .bool(streamInterrupted) }
        if let errorType { attributes[GenAIConventions.errorType] = .string(errorType) }
        return SpanAttributes(attributes)
    }
}
