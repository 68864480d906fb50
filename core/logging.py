"""Log filter that masks phone numbers so logs never carry personal data."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

# Seven or more digits, optionally led by + and broken by spaces, dots or dashes.
_PHONE_RE = re.compile(r"\+?\d[\d\s.\-]{5,}\d")


def mask_phone(text: str) -> str:
    """Keep the last two digits of each phone-like run: ``+4915123456789`` -> ``+***********89``."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) < 7:
            return match.group(0)
        return ("+" if match.group(0).startswith("+") else "") + "*" * (len(digits) - 2) + digits[-2:]

    return _PHONE_RE.sub(_mask, text)


class MaskPhoneNumbersFilter(logging.Filter):
    """Masks numbers in the message, the traceback and the stack of a record, before any handler formats it.

    A traceback is formatted here, once, and stored masked in ``exc_text``, which every formatter
    uses instead of formatting the exception again: an exception's message often names the number.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phone(record.stack_info)
        return True


_traceback_formatter = logging.Formatter()


class MaskPhoneNumbersFormatter(logging.Formatter):
    """Masks numbers in tracebacks even for a record that reached the handler without the filter.

    Only the traceback and the stack: the whole line would lose its timestamp, which looks like a number.
    """

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return mask_phone(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return mask_phone(super().formatStack(stack_info))


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record.

    A plain StreamHandler keeps the stream it was built with; when the logging set-up runs while
    stderr is temporarily replaced (a test runner capturing output), it would go on writing to the
    replaced stream after it was closed, and every record would end in a "Logging error".
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.setStream assigns it; stderr stays the target
        pass
