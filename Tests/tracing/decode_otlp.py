"""Decodes OTLP/HTTP protobuf trace exports (one file per request body) into
JSON spans, for Tests/LLMProxyTests/TracingTests.swift."""
import json
import sys

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


spans = []
for path in sys.argv[1:]:
    request = trace_service_pb2.ExportTraceServiceRequest()
    with open(path, "rb") as body:
        request.ParseFromString(body.read())
    for resource_spans in request.resource_spans:
        resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,
                    "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": {a.key: value(a.value) for a in span.attributes},
                    "service": resource.get("service.name"),
                })
json.dump(spans, sys.stdout)
