"""gptcli: a scriptable command line for chat models behind the OpenAI Chat Completions API."""

__version__ = "0.1.0"
