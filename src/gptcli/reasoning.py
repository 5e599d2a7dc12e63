"""A reasoning model's thinking kept apart from its answer (pure: no I/O, no printing).

Servers hand the thinking over in one of three shapes (docs: README "Reasoning models"):

- a separate field of the message and of each stream delta: ``reasoning_content``
  (DeepSeek's API, vLLM, llama.cpp) or ``reasoning`` (OpenRouter, Ollama); the backend
  passes it on as ``Delta.reasoning`` / ``Completion.reasonings``;
- ``<think>...</think>`` at the start of the content (Ollama or llama.cpp without a
  reasoning parser, many fine-tunes), split anywhere across stream deltas;
- hidden (OpenAI): only ``usage.completion_tokens_details.reasoning_tokens`` tells.

``Splitter`` reads the content of one choice piece by piece, in any split, and gives
back (answer, reasoning) pieces as soon as they are certain; ``split`` does the same for
a whole text, by feeding one Splitter, so a streamed reply and the same reply whole
always separate alike. ``separate`` applies it to every choice of a Completion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .models import Completion

DEFAULT_TAGS = ("<think>", "</think>")

# States of a Splitter.
_START, _THINK, _AFTER, _ANSWER = "start", "think", "after", "answer"


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that is a proper beginning of ``tag``."""
    for k in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-k:]):
            return k
    return 0


class Splitter:
    """Separates a leading reasoning block from the answer, for one choice's content.

    Only a block at the very start counts (leading whitespace allowed): a ``<think>``
    later in an answer is the answer's own text. The whitespace between the closing tag
    and the answer is dropped. ``tags=None`` turns tag parsing off: all content is answer.
    """

    def __init__(self, tags: tuple[str, str] | None = DEFAULT_TAGS) -> None:
        self.tags = tags
        self.state = _START if tags else _ANSWER
        self._held = ""  # content not yet known to be answer or reasoning

    @property
    def in_reasoning(self) -> bool:
        """True while inside an opened reasoning block (a reply cut off here never answered)."""
        return self.state == _THINK

    def feed(self, content: str) -> tuple[str, str]:
        """(answer, reasoning) text now certain, given the next piece of content."""
        if self.state == _ANSWER:
            return content, ""
        text = self._held + content
        self._held = ""
        answer, reasoning = [], []
        assert self.tags is not None
        opening, closing = self.tags
        while text:
            if self.state == _START:
                body = text.lstrip()
                if body.startswith(opening):
                    self.state, text = _THINK, body[len(opening) :]
                elif opening.startswith(body):  # whitespace, or a beginning of the tag: wait
                    self._held = text
                    text = ""
                else:
                    self.state = _ANSWER
            elif self.state == _THINK:
                end = text.find(closing)
                if end >= 0:
                    reasoning.append(text[:end])
                    self.state, text = _AFTER, text[end + len(closing) :]
                else:
                    keep = _partial_suffix(text, closing)
                    reasoning.append(text[: len(text) - keep])
                    self._held = text[len(text) - keep :]
                    text = ""
            elif self.state == _AFTER:
                text = text.lstrip()
                if text:
                    self.state = _ANSWER
            else:
                answer.append(text)
                text = ""
        return "".join(answer), "".join(reasoning)

    def finish(self) -> tuple[str, str]:
        """What is still held when the content ends: answer at the start, reasoning inside a block."""
        held, self._held = self._held, ""
        if self.state == _THINK:
            return "", held
        return held, ""


def split(text: str, tags: tuple[str, str] | None = DEFAULT_TAGS) -> tuple[str, str, bool]:
    """(answer, reasoning, still in reasoning at the end) of a whole content text."""
    s = Splitter(tags)
    answer, reasoning = s.feed(text)
    tail_answer, tail_reasoning = s.finish()
    return answer + tail_answer, reasoning + tail_reasoning, s.in_reasoning


def separate(completion: Completion, tags: tuple[str, str] | None = DEFAULT_TAGS) -> Completion:
    """The completion with each choice's reasoning (fields, then tags) out of its text.

    ``Completion.reasonings`` on the way in hold what the server sent in a separate
    field; on the way out they hold all the thinking, stripped of surrounding blank
    lines. ``in_reasoning``: the first choice stopped inside its reasoning block, or
    (a field-only reply) stopped with reasoning and no answer before finishing.
    """
    texts: list[str] = []
    reasonings: list[str] = []
    cut = False
    for i, raw in enumerate(completion.texts):
        answer, thought, open_block = split(raw, tags)
        field = completion.reasonings[i] if i < len(completion.reasonings) else ""
        texts.append(answer)
        reasonings.append((field + thought).strip())
        if i == 0:
            finished = completion.finish_reasons[0] == "stop" if completion.finish_reasons else False
            cut = open_block or (bool(field) and not answer and not finished)
    if not any(reasonings):
        reasonings = []
    return dataclasses.replace(completion, texts=tuple(texts), reasonings=tuple(reasonings), in_reasoning=cut)


def profile_tags(parse: bool, tags: tuple[str, ...] | None) -> tuple[str, str] | None:
    """The tag pair a profile asks for; None when tag parsing is off."""
    if not parse:
        return None
    if tags and len(tags) == 2 and tags[0] and tags[1]:
        return (tags[0], tags[1])
    return DEFAULT_TAGS


def with_reasoning_tokens(completion: Completion, count: Callable[[str], int]) -> Completion:
    """The completion with ``usage.reasoning_tokens`` counted from its thinking when the server gave none.

    ``count`` turns a text into tokens (the model's encoding, or an approximation); the
    usage is then marked ``reasoning_estimated``. A server that reports no usage at all
    gets none made up.
    """
    usage = completion.usage
    if usage is None or usage.reasoning_tokens or not any(completion.reasonings):
        return completion
    counted = sum(count(r) for r in completion.reasonings if r)
    usage = dataclasses.replace(usage, reasoning_tokens=counted, reasoning_estimated=True)
    return dataclasses.replace(completion, usage=usage)
