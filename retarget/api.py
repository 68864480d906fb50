"""What every REST endpoint shares: body parsers that refuse hostile input, and JSON errors.

The parsers run before any serializer or service, so a body nested too deep or holding a NUL
character (PostgreSQL text and jsonb cannot store one) is answered 400 with nothing written.
The exception handler answers a body over Django's size limits as JSON too, instead of the
HTML error page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import QueryDict
from rest_framework import parsers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

NUL = "\x00"
NUL_IN_VALUE = "Null characters are not allowed."
NUL_IN_NAME = "Null characters are not allowed in names."


def _shown(key: str) -> str:
    return key.replace(NUL, "\\u0000")


def _nested(path: list[str], message: str) -> dict[str, Any]:
    """``{"a": {"b": [message]}}`` for path a.b: the shape serializers give their errors."""
    detail: Any = [message]
    for part in reversed(path):
        detail = {part: detail}
    return detail


def _path_text(path: list[str]) -> str:
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in path).lstrip(".") or "the body"


def body_check(data: Any, *, max_depth: int) -> None:
    """Refuse ``data`` nested deeper than ``max_depth`` or holding a NUL in any text or name.

    ParseError for the depth (naming the limit and where), ValidationError for a NUL (nested like
    the input). Iterative, so a hostile body cannot exhaust the stack here.
    """
    stack: list[tuple[Any, list[str], int]] = [(data, [], 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise ValidationError(_nested(path, NUL_IN_VALUE))
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            raise ParseError(
                {
                    "detail": f"The body is nested more than {max_depth} levels deep (at {_path_text(path)}).",
                    "limit": "API_MAX_JSON_DEPTH",
                    "path": _path_text(path),
                }
            )
        if isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                if NUL in key:
                    raise ValidationError(_nested([*path, _shown(key)], NUL_IN_NAME))
                stack.append((item, [*path, key], depth + 1))
        else:
            stack.extend((item, [*path, str(index)], depth + 1) for index, item in enumerate(value))


def _form_check(data: QueryDict) -> None:
    for key, values in data.lists():
        if NUL in key:
            raise ValidationError({_shown(key): [NUL_IN_NAME]})
        if any(isinstance(value, str) and NUL in value for value in values):
            raise ValidationError({key: [NUL_IN_VALUE]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.API_MAX_JSON_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's decoder gives up around 1,000 levels, long after our limit.
            raise ParseError(
                {"detail": f"The body is nested more than {limit} levels deep.", "limit": "API_MAX_JSON_DEPTH"}
            ) from None
        body_check(data, max_depth=limit)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _form_check(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        _form_check(parsed.data)
        return parsed


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django's request-size refusals as JSON instead of an HTML page."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {
                "detail": f"The request body is larger than the limit of {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); "
                "send fewer items per request.",
                "limit": "DATA_UPLOAD_MAX_MEMORY_SIZE",
                "max_bytes": limit,
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response(
            {
                "detail": f"The form has more than {limit:,} fields (DATA_UPLOAD_MAX_NUMBER_FIELDS); send JSON or fewer fields.",
                "limit": "DATA_UPLOAD_MAX_NUMBER_FIELDS",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    return exception_handler(exc, context)
