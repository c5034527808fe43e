"""The official SDKs against the mock at argv[1]: Anthropic Messages (stream and not) and OpenAI
chat completions (stream with usage, and not). Prints one JSON object of what each SDK parsed."""
import json
import sys

import anthropic
import openai

url = sys.argv[1]
out = {"anthropic": {}, "openai": {}}

claude = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
ask = [{"role": "user", "content": "Say something. [gb:sdk-a]"}]
message = claude.messages.create(model="claude-test", max_tokens=100, system="terse", messages=ask)
out["anthropic"]["message"] = {
    "input_tokens": message.usage.input_tokens,
    "output_tokens": message.usage.output_tokens,
    "words": len(message.content[0].text.split()),
    "stop_reason": message.stop_reason,
}
with claude.messages.stream(model="claude-test", max_tokens=100, messages=ask) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
out["anthropic"]["stream"] = {
    "input_tokens": final.usage.input_tokens,
    "output_tokens": final.usage.output_tokens,
    "words": len(text.split()),
    "stop_reason": final.stop_reason,
}
try:
    claude.messages.create(
        model="claude-test", max_tokens=5, messages=ask, extra_headers={"x-mock-fault": "429"}
    )
    out["anthropic"]["rate_limited"] = None
except anthropic.RateLimitError as error:
    out["anthropic"]["rate_limited"] = error.body["error"]["type"]

gpt = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
chat = [{"role": "user", "content": "Say something. [gb:sdk-o]"}]
completion = gpt.chat.completions.create(model="gpt-test", messages=chat)
out["openai"]["completion"] = {
    "input_tokens": completion.usage.prompt_tokens,
    "output_tokens": completion.usage.completion_tokens,
    "words": len(completion.choices[0].message.content.split()),
}
words, usage = 0, None
for chunk in gpt.chat.completions.create(
    model="gpt-test", messages=chat, stream=True, stream_options={"include_usage": True}
):
    if chunk.choices and chunk.choices[0].delta.content:
        words += len(chunk.choices[0].delta.content.split())
    if chunk.usage:
        usage = chunk.usage
out["openai"]["stream"] = {
    "input_tokens": usage.prompt_tokens,
    "output_tokens": usage.completion_tokens,
    "words": words,
}
# Tool calls: the mock answers with a call of `lookup`, its arguments streamed as fragments.
tool = {"x-mock-tool-call": "true"}
tool_message = claude.messages.create(
    model="claude-test", max_tokens=100, messages=ask, extra_headers=tool
)
with claude.messages.stream(
    model="claude-test", max_tokens=100, messages=ask, extra_headers=tool
) as stream:
    tool_final = stream.get_final_message()
out["anthropic"]["tool_use"] = {
    "message": tool_message.content[0].input,
    "stream": tool_final.content[0].input,
    "stop_reason": tool_final.stop_reason,
}
tool_completion = gpt.chat.completions.create(model="gpt-test", messages=chat, extra_headers=tool)
fragments = []
for chunk in gpt.chat.completions.create(
    model="gpt-test", messages=chat, stream=True, extra_headers=tool
):
    if chunk.choices and chunk.choices[0].delta.tool_calls:
        fragments.append(chunk.choices[0].delta.tool_calls[0].function.arguments or "")
out["openai"]["tool_calls"] = {
    "completion": json.loads(tool_completion.choices[0].message.tool_calls[0].function.arguments),
    "stream": json.loads("".join(fragments)),
    "fragments": len(fragments),
    "finish_reason": tool_completion.choices[0].finish_reason,
}
print(json.dumps(out))
