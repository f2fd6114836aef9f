"""End-to-end checks with the real SDKs against a running gateway.

Run by Tests/LLMProxyTests/SDKEndToEndTests.swift, which starts the gateway
and its mock upstreams; `.ci/run` creates the virtualenv with the SDKs.
Environment: GATEWAY_URL (http://127.0.0.1:PORT), GATEWAY_KEY.
"""
import os
import sys

import openai
from openai import AzureOpenAI, OpenAI

URL = os.environ["GATEWAY_URL"]
KEY = os.environ["GATEWAY_KEY"]
failures = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(name)


# AzureOpenAI against the Azure-style inbound path; the deployment is the model.
azure = AzureOpenAI(azure_endpoint=URL, api_key=KEY, api_version="2024-06-01", max_retries=0)
reply = azure.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hello azure"}])
check("azure chat", reply.choices[0].message.content == "hello azure", repr(reply))
check("azure usage", reply.usage is not None and reply.usage.total_tokens > 0, repr(reply.usage))
parts = []
for chunk in azure.chat.completions.create(model="demo", stream=True, messages=[{"role": "user", "content": "one two three four"}]):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
check("azure stream", "".join(parts) == "one two three four", repr(parts))
embedding = azure.embeddings.create(model="demo", input="vector")
check("azure embeddings", len(embedding.data[0].embedding) == 8, repr(embedding))

# The plain OpenAI client and the OpenAI error classes.
client = OpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0)
reply = client.chat.completions.create(model="Proxy/demo", messages=[{"role": "user", "content": "hi"}])
check("openai chat with suffix", reply.choices[0].message.content == "hi", repr(reply))
check("openai models", "demo" in [m.id for m in client.models.list()])
try:
    OpenAI(base_url=URL + "/v1", api_key="sk-wrong", max_retries=0).chat.completions.create(model="demo", messages=[])
    check("wrong key raises AuthenticationError", False)
except openai.AuthenticationError as error:
    check("wrong key raises AuthenticationError", error.code == "invalid_api_key", repr(error))
try:
    client.chat.completions.create(model="no-such-model", messages=[])
    check("unknown model raises NotFoundError", False)
except openai.NotFoundError as error:
    check("unknown model raises NotFoundError", error.code == "model_not_found", repr(error))
try:
    for _ in client.chat.completions.create(model="cut", stream=True, messages=[{"role": "user", "content": "x"}]):
        pass
    check("cut stream raises APIError", False)
except openai.APIError as error:
    check("cut stream raises APIError", "ended early" in str(error.message), repr(error))

# The Responses API (the mock provider answers it).
response = client.responses.create(model="demo", input="hello responses")
check("openai responses.create", response.output_text == "hello responses", repr(response))
check("openai responses usage", response.usage is not None and response.usage.total_tokens > 0, repr(response.usage))
deltas = []
completed = None
for event in client.responses.create(model="demo", input=[{"role": "user", "content": "one two three four"}], stream=True):
    if event.type == "response.output_text.delta":
        deltas.append(event.delta)
    elif event.type == "response.completed":
        completed = event.response
check("openai responses stream", "".join(deltas) == "one two three four", repr(deltas))
check("openai responses stream completed", completed is not None and completed.output_text == "one two three four", repr(completed))

# A multipart upload: the model form field is replaced, the file streamed through.
transcription = client.audio.transcriptions.create(model="whisper-1", file=("a.mp3", b"ID3-sdk-audio" * 1000, "audio/mpeg"))
check("openai audio.transcriptions", transcription.text == "replaced", repr(transcription))

# Calls that name a stored response go to the provider that created it.
retrieved = client.responses.retrieve(response.id)
check("openai responses.retrieve", retrieved.id == response.id and retrieved.status == "completed", repr(retrieved))
items = client.responses.input_items.list(response.id)
check("openai responses.input_items", items.data == [], repr(items))
follow_up = client.responses.create(model="demo", input="and then", previous_response_id=response.id)
check("openai responses previous_response_id", follow_up.output_text == "and then", repr(follow_up))
cancelled = client.responses.cancel(completed.id)
check("openai responses.cancel", cancelled.id == completed.id, repr(cancelled))
client.responses.delete(response.id)
check("openai responses.delete", True)
try:
    client.responses.retrieve("resp_nobody-made-this")
    check("unknown response raises NotFoundError", False)
except openai.NotFoundError as error:
    check("unknown response raises NotFoundError", "not found" in str(error.message), repr(error))

# The OpenAI Agents SDK, which speaks the Responses API by default.
try:
    import asyncio

    from agents import Agent, OpenAIResponsesModel, Runner, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    agent = Agent(
        name="echo", instructions="Repeat the user.",
        model=OpenAIResponsesModel(model="demo", openai_client=AsyncOpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0)))

    async def runs():
        # One event loop for both: the client's connections belong to it.
        result = await Runner.run(agent, "hello agents")
        streamed = Runner.run_streamed(agent, "streamed agents")
        async for _ in streamed.stream_events():
            pass
        return result.final_output, streamed.final_output

    plain, streamed = asyncio.run(runs())
    check("openai-agents run", plain == "hello agents", repr(plain))
    check("openai-agents run_streamed", streamed == "streamed agents", repr(streamed))

    # A run with a tool call: the provider asks for get_weather, the SDK
    # runs it and sends its output back through the gateway.
    from agents import function_tool

    calls = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    tool_agent = Agent(
        name="weather", instructions="Use the tool.", tools=[get_weather],
        model=OpenAIResponsesModel(model="agent-tools", openai_client=AsyncOpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0)))
    tooled = asyncio.run(Runner.run(tool_agent, "weather in Paris?"))
    check("openai-agents run with a tool call", calls == ["Paris"] and tooled.final_output == "It is sunny in Paris.", repr((calls, tooled.final_output)))
except ImportError:
    print("skip openai-agents: not installed")

# The anthropic SDK against /v1/messages (the mock provider answers claude-*).
try:
    import anthropic

    claude = anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)
    message = claude.messages.create(model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "hello claude"}])
    check("anthropic messages.create", message.content[0].text == "hello claude", repr(message))
    check("anthropic usage", message.usage.input_tokens > 0 and message.usage.output_tokens > 0, repr(message.usage))
    with claude.messages.stream(model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "one two three four"}]) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    check("anthropic messages.stream text", streamed == "one two three four", repr(streamed))
    check("anthropic messages.stream final message", final.content[0].text == "one two three four" and final.stop_reason == "end_turn", repr(final))
    counted = claude.messages.count_tokens(model="claude-test", messages=[{"role": "user", "content": "count these tokens"}])
    check("anthropic count_tokens", counted.input_tokens > 0, repr(counted))
    # Claude Code with ANTHROPIC_AUTH_TOKEN sends the key as a bearer token.
    bearer = anthropic.Anthropic(base_url=URL, auth_token=KEY, max_retries=0)
    check("anthropic auth_token", bearer.messages.create(model="claude-test", max_tokens=8, messages=[{"role": "user", "content": "hi"}]).content[0].text == "hi")
    try:
        anthropic.Anthropic(base_url=URL, api_key="sk-wrong", max_retries=0).messages.create(
            model="claude-test", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        check("anthropic wrong key raises AuthenticationError", False)
    except anthropic.AuthenticationError as error:
        check("anthropic wrong key raises AuthenticationError", error.status_code == 401, repr(error))
    try:
        claude.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        check("anthropic unknown model raises NotFoundError", False)
    except anthropic.NotFoundError as error:
        check("anthropic unknown model raises NotFoundError", error.status_code == 404, repr(error))
    limited = anthropic.Anthropic(base_url=URL, api_key=os.environ["GATEWAY_LIMITED_KEY"], max_retries=0)
    try:
        for _ in range(3):
            limited.messages.create(model="claude-test", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        check("anthropic limited key raises RateLimitError", False)
    except anthropic.RateLimitError as error:
        check("anthropic limited key raises RateLimitError", error.status_code == 429, repr(error))
except ImportError:
    print("skip anthropic: not installed")

# google-genai against the Gemini-native path.
try:
    from google import genai
    from google.genai import types

    gemini = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=URL))
    response = gemini.models.generate_content(model="gemini-test", contents="hi")
    check("genai generate_content", response.text == "hello from gemini", repr(response))
    text = "".join(chunk.text or "" for chunk in gemini.models.generate_content_stream(model="gemini-test", contents="hi"))
    check("genai stream", text == "hello from gemini", repr(text))
except ImportError:
    print("skip google-genai: not installed")

print(f"{len(failures)} failed" if failures else "ALL OK")
sys.exit(1 if failures else 0)
