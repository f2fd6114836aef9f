import Prometheus

/// The contract's metric names (`../shared/SPEC.md`, "Metrics"), each with
/// its `# HELP` text: one descriptor per name, so every series of a metric is
/// registered with the same help. Computed: the descriptor type is not
/// `Sendable`, and a handle is made once per series, not per request.
package enum MetricDescriptors {
    package static var requests: MetricNameDescriptor {
        make("llm_proxy_requests", "total", "API requests by endpoint, model, provider and status code.")
    }
    package static var requestDuration: MetricNameDescriptor {
        make("llm_proxy_request_duration", "seconds", "Request head to last response byte, by endpoint, model and provider.")
    }
    package static var timeToFirstByte: MetricNameDescriptor {
        make("llm_proxy_time_to_first_byte", "seconds", "Request head to first response byte, by model and provider.")
    }
    package static var activeRequests: MetricNameDescriptor {
        make("llm_proxy_active_requests", "", "API requests between head and last response byte.")
    }
    package static var tokens: MetricNameDescriptor {
        make("llm_proxy_tokens", "total", "Tokens from upstream usage, by model, provider and token type.")
    }
    package static var providerHealth: MetricNameDescriptor {
        make("llm_proxy_provider_health", "", "1 while a provider is up, 0 while it is down.")
    }
    package static var providerLatency: MetricNameDescriptor {
        make("llm_proxy_provider_latency", "seconds", "Health probe latency by provider.")
    }
    package static var rateLimited: MetricNameDescriptor {
        make("llm_proxy_rate_limited", "total", "Requests refused by a key's rate limit, by key name.")
    }
    package static var modelRateLimited: MetricNameDescriptor {
        make("llm_proxy_model_rate_limited", "total", "Requests refused by a key's model_limits, by key name and pattern.")
    }
    package static var sharedStateErrors: MetricNameDescriptor {
        make("llm_proxy_shared_state_errors", "total", "Shared-store calls that failed or timed out (each decided by shared_state.on_unavailable).")
    }
    package static var droppedLogLines: MetricNameDescriptor {
        make("llm_proxy_dropped_log_lines", "total", "Access-log lines dropped because the log sink could not keep up.")
    }
    package static var droppedSpans: MetricNameDescriptor {
        make("llm_proxy_dropped_spans", "total", "Trace spans dropped because the exporter or the collector could not keep up.")
    }
    package static var credentialRefreshes: MetricNameDescriptor {
        make("llm_proxy_credential_refreshes", "total", "Provider token renewals by provider and result.")
    }
    package static var configReloads: MetricNameDescriptor {
        make("llm_proxy_config_reloads", "total", "Config reloads by result.")
    }
    package static var upstreamRetries: MetricNameDescriptor {
        make("llm_proxy_upstream_retries", "total", "Attempts retried on another provider, by the provider that failed.")
    }

    private static func make(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }
}
