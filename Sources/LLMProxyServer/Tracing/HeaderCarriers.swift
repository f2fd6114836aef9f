import Instrumentation
import NIOHTTP1

/// The client's trace context, read from its request headers.
struct RequestHeadersExtractor: Extractor {
    func extract(key: String, from carrier: HTTPHeaders) -> String? { carrier.first(name: key) }
}

/// An attempt's trace context, written as the headers the provider gets.
struct TraceHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(name: String, value: String)]) {
        carrier.append((key, value))
    }
}
