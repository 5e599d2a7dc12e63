"""The one error tree of gptcli, and the exit code each error maps to.

Every failure a user can cause or meet is a ``GptcliError`` subclass carrying its
exit code and a message written for the user (one line, actionable). ``cli.main``
is the only place that turns them into stderr text and an exit status::

    GptcliError                 1  unexpected
    ├── UsageError              2  bad flags or arguments, no prompt
    ├── ConfigError             3  profile, TOML, store or encoding problems
    │   └── NotFoundError       3  unknown profile or conversation id
    ├── AuthError               4  missing or rejected API key
    ├── RateLimitError          5  429 / quota, after the retries
    ├── NetworkError            6  connection, timeout, 5xx
    │   ├── StreamBroken        6  the stream broke mid-reply (carries the partial reply)
    │   │   └── IncompleteReply 6  the server ended the reply without a finish_reason
    │   └── ToolServerError     6  an MCP server did not start, stopped, or did not answer in time
    ├── BudgetError             7  the call could cost more than --max-cost
    ├── ContextLengthError      8  the request does not fit the context window
    ├── InvalidOutputError      9  --json-object / --schema reply is not valid
    ├── BatchFailedError       10  some batch items failed (the rest are written)
    ├── ChecksFailed           11  replay --check: some cases did not meet their expectations
    ├── ToolStepsError         12  the tool loop hit --max-steps before a final answer
    ├── Interrupted           130  Ctrl-C / SIGTERM; what was received is kept
    └── APIError                1  a server answer no other class covers (e.g. a 400)

Which server answer becomes which class is decided by one table, whoever wrote the server:
``backends/classify.py`` (documented in docs/errors.md). ``detail`` keeps the server's
whole text (shown with -v and written to the log); the message is one line.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Completion


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    RATE_LIMIT = 5
    NETWORK = 6
    BUDGET = 7
    CONTEXT = 8
    INVALID_OUTPUT = 9
    BATCH_FAILED = 10
    CHECKS_FAILED = 11
    TOOL_STEPS = 12
    INTERRUPTED = 130


class GptcliError(Exception):
    """Base class: a failure with a user-facing one-line message."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    detail: str | None = None  # the server's whole answer, for -v and the log (never the one line)

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(GptcliError):
    exit_code = ExitCode.USAGE


class ConfigError(GptcliError):
    exit_code = ExitCode.CONFIG


class NotFoundError(ConfigError):
    pass


class AuthError(GptcliError):
    exit_code = ExitCode.AUTH


class RateLimitError(GptcliError):
    exit_code = ExitCode.RATE_LIMIT


class NetworkError(GptcliError):
    exit_code = ExitCode.NETWORK


class StreamBroken(NetworkError):
    """The connection failed mid-reply; ``partial`` holds what was received."""

    def __init__(self, message: str, partial: Completion, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial


class IncompleteReply(StreamBroken):
    """The server ended the reply (a clean end of stream) without saying it was finished.

    A requested choice without a ``finish_reason``, or no content and no finish at all
    (an over-long prompt answered with an empty event stream, a stream cut off when
    another request arrived). Never a success: exit 6, the reply kept in the log as
    incomplete, never sent back as history.
    """


class ToolServerError(NetworkError):
    """An MCP server (gptcli.tools) did not start, stopped, or did not answer in time: one line
    naming the server and the last line it wrote on stderr; ``detail`` has the rest (-v)."""


class BudgetError(GptcliError):
    exit_code = ExitCode.BUDGET


class ContextLengthError(GptcliError):
    exit_code = ExitCode.CONTEXT


class InvalidOutputError(GptcliError):
    exit_code = ExitCode.INVALID_OUTPUT


class BatchFailedError(GptcliError):
    exit_code = ExitCode.BATCH_FAILED


class ChecksFailed(GptcliError):
    exit_code = ExitCode.CHECKS_FAILED


class ToolStepsError(GptcliError):
    """The model still called tools when ``--max-steps`` requests had been made: no final answer.

    ``turn`` is the loop so far (its calls, its cost), for ``--json``.
    """

    exit_code = ExitCode.TOOL_STEPS
    turn: Any = None  # a models.Turn


class Interrupted(GptcliError):
    exit_code = ExitCode.INTERRUPTED


class APIError(GptcliError):
    """A server answer the other classes do not cover (for example a 400)."""

    exit_code = ExitCode.UNEXPECTED

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.param = param
