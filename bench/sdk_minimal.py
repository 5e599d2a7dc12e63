"""The baseline for `gptcli ask`: the least a script can do to send one request with the openai SDK.

Usage: python bench/sdk_minimal.py BODY_JSON

BODY_JSON is the exact request body gptcli sends (run.py captures it from gptcli with a
test server), so both sides send the same request. With ``"stream": true``
each delta is printed as in OpenAI's own streaming example (``print(..., end="")``; into
a pipe or a file Python buffers it, as gptcli does: it writes a piped reply once, whole).
"""

import json
import sys

import openai

body = json.loads(sys.argv[1])
client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
if body.pop("stream", False):
    for chunk in client.chat.completions.create(**body, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="")
    print()
else:
    print(client.chat.completions.create(**body).choices[0].message.content)
