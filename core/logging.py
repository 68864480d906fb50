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
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


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
