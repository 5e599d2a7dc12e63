"""The baseline for `gptcli ask`: the least a script can do to send one request with the openai SDK.

Usage: python bench/sdk_minimal.py BODY_JSON

BODY_JSON is the exact request body gptcli sends (run.py takes it from
``gptcli ask --dry-run``), so both sides send the same request. With ``"stream": true``
the reply is written as it arrives, as in OpenAI's own streaming example.
"""

import json
import sys

import openai

body = json.loads(sys.argv[1])
client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
if body.pop("stream", False):
    for chunk in client.chat.completions.create(**body, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()
else:
    print(client.chat.completions.create(**body).choices[0].message.content)
