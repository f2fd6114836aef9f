# The bench's gateway, upstream answer and request body, shared by
# scripts/bench.sh and scripts/instructions.sh (sourced, not run), so the
# instruction counts are of the configuration the bench times.

# The upstream's chat completion and the body wrk and the counters post.
RESPONSE='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}'
BODY='{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence, please."}],"temperature":0.2,"max_tokens":64,"stream":false,"user":"bench"}'

# bench_gateway_config GW_PORT UP_PORT STREAM_PORT IDLE_PORT: the gateway's
# config.yaml on stdout: one event loop, model mapping with a regex key, two
# master keys, metrics on, the access log at the process's LOG_LEVEL.
bench_gateway_config() {
  cat <<EOF
server: {host: 127.0.0.1, port: $1, event_loops: 1}
watch_config: false
health_check: {enabled: false}
providers:
  - name: fast
    type: openai
    api_base: http://127.0.0.1:$2/v1
    api_key: sk-upstream
    model_mapping:
      gpt-4o: gpt-4o-2024-08-06
      "claude-(.*)": "anthropic.claude-\$1"
  - name: streamer
    type: openai
    api_base: http://127.0.0.1:$3/v1
    api_key: sk-upstream
    model_mapping: {stream-model: gpt-4o}
  - name: idle-streamer
    type: openai
    api_base: http://127.0.0.1:$4/v1
    api_key: sk-upstream
    model_mapping: {idle-model: gpt-4o}
master_keys:
  - {name: Bench, key: sk-bench}
  # A limit no run reaches: the limiter's cost (the bench also runs it in Redis).
  - {name: Limited, key: sk-limited, rate_limit: {requests_per_second: 10000000, burst_size: 10000000}}
EOF
}
