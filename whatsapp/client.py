"""The WhatsApp Cloud API client: the only module that speaks HTTP to Meta.

It imports no models so it can be used (and tested) on its own. Every failure becomes one
``WhatsAppError`` whose ``scope`` (from ``classify_error``, the one table of error codes) tells the
caller what to do: retry later, give up on this recipient, or stop the campaign / the account.

The client never retries by itself: a POST that timed out may still have been accepted by Meta,
so whether to send again is the caller's decision (it knows the message's callback data).
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from core.logging import mask_phone

logger = logging.getLogger(__name__)


class ErrorScope(enum.Enum):
    """What a failure means for the caller (see the table in the shared Cloud API notes)."""

    TRANSIENT = "transient"  # retry later with backoff
    RECIPIENT = "recipient"  # final for this recipient
    CAMPAIGN = "campaign"  # our payload or the template is wrong: pause the campaign
    ACCOUNT = "account"  # the token, number or account is unusable: pause all sending and alert


_T, _R, _C, _A = ErrorScope.TRANSIENT, ErrorScope.RECIPIENT, ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT

# The one table from Meta error code to scope. Codes not listed are unknown (see classify_error).
ERROR_SCOPES: dict[int, ErrorScope] = {
    1: _T, 2: _T, 131000: _T, 131016: _T,
    4: _T, 80007: _T, 130429: _T,
    131056: _T,
    131048: _A,
    131026: _R, 131047: _R, 131049: _R, 131050: _R, 131051: _R, 131052: _R, 131053: _R,
    131008: _C, 131009: _C, 100: _C,
    132000: _C, 132001: _C, 132005: _C, 132007: _C, 132012: _C, 132015: _C, 132016: _C,
    133010: _A, 190: _A, 0: _A, 10: _A, 368: _A, 131031: _A,
    **{code: _A for code in range(200, 300)},
}  # fmt: skip

THROUGHPUT_CODES = frozenset({130429, 4, 80007})
PAIR_RATE_LIMIT_CODE = 131056
PLATFORM_OPTOUT_CODE = 131050


def classify_error(code: int | None, http_status: int | None = None) -> ErrorScope:
    """The scope of a Meta error ``code`` (or of a bare HTTP status when Meta sent no error body).

    Unknown codes are transient: the caller retries a few times and then treats the failure as
    final for the recipient (``WhatsAppError.is_known`` is False for them so it can count).
    """
    if code is not None and code in ERROR_SCOPES:
        return ERROR_SCOPES[code]
    if code is None and http_status in (401, 403):
        return ErrorScope.ACCOUNT
    return ErrorScope.TRANSIENT


class WhatsAppError(Exception):
    """A failed call to the Cloud API, or a ``failed`` status reported by a webhook."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        title: str = "",
        trace_id: str = "",
        http_status: int | None = None,
        details: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.title = title
        self.trace_id = trace_id
        self.http_status = http_status
        self.details = details
        self.scope = classify_error(code, http_status)

    def __str__(self) -> str:
        code = f"#{self.code}" if self.code is not None else f"HTTP {self.http_status or '-'}"
        return f"WhatsApp error {code} ({self.scope.value}): {self.message}"

    @property
    def retry_later(self) -> bool:
        return self.scope is ErrorScope.TRANSIENT

    @property
    def recipient_final(self) -> bool:
        return self.scope is ErrorScope.RECIPIENT

    @property
    def stops_campaign(self) -> bool:
        """The campaign must pause: its payload/template is wrong, or the whole account is unusable."""
        return self.scope in (ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT)

    @property
    def stops_account(self) -> bool:
        return self.scope is ErrorScope.ACCOUNT

    @property
    def records_platform_optout(self) -> bool:
        """The person stopped marketing messages in WhatsApp: record a ``platform`` opt-out."""
        return self.code == PLATFORM_OPTOUT_CODE

    @property
    def is_throughput(self) -> bool:
        """A rate limit of the number, app or account: slow the token bucket down."""
        return self.code in THROUGHPUT_CODES

    @property
    def is_pair_rate_limit(self) -> bool:
        """Too many messages to this one person lately: retry this recipient in minutes."""
        return self.code == PAIR_RATE_LIMIT_CODE

    @property
    def is_known(self) -> bool:
        return self.code in ERROR_SCOPES

    @classmethod
    def from_error_object(cls, error: dict[str, Any], *, http_status: int | None = None) -> WhatsAppError:
        """Build from Meta's error object (the HTTP ``error`` or one entry of a status's ``errors``)."""
        error_data = error.get("error_data")
        return cls(
            str(error.get("message") or error.get("title") or "Unknown error"),
            code=_int_or_none(error.get("code")),
            subcode=_int_or_none(error.get("error_subcode")),
            title=str(error.get("title") or error.get("error_user_title") or error.get("type") or ""),
            trace_id=str(error.get("fbtrace_id") or ""),
            http_status=http_status,
            details=str(error_data.get("details") or "") if isinstance(error_data, dict) else "",
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str
    message_status: str | None


# --- HTTP ---------------------------------------------------------------------------------------

# Campaign senders call from thread pools (32 threads and more): the pool must not be the limit.
POOL_SIZE = 64
_session: requests.Session | None = None
_session_pid: int | None = None
_session_lock = threading.Lock()


def _http() -> requests.Session:
    """The process's one pooled session (requests.Session is safe to share for plain requests).

    A forked child (Celery's prefork pool) builds its own: pooled sockets must not be shared.
    """
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        with _session_lock:
            if _session is None or _session_pid != os.getpid():
                session = requests.Session()
                session.trust_env = False  # read once per host instead: see _environment_settings
                # max_retries=0: never resend a POST behind the caller's back (it may have been accepted).
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                _session, _session_pid = session, os.getpid()
    return _session


@functools.lru_cache(maxsize=16)
def _environment_settings(origin: str) -> dict[str, Any]:
    """Proxies (with no_proxy) and CA bundle from the environment for ``origin``, read once.

    requests reads the whole environment again on every call (9% of a sending worker's CPU).
    A .netrc entry is not used: its credentials would replace the bearer token.
    """
    merged = requests.Session().merge_environment_settings(origin, {}, None, None, None)
    return {"proxies": merged["proxies"], "verify": merged["verify"], "cert": merged["cert"]}


def _url(path: str) -> str:
    return f"{settings.WHATSAPP_GRAPH_URL.rstrip('/')}/{settings.WHATSAPP_API_VERSION}/{path.lstrip('/')}"


def _request(method: str, url: str, *, json_body: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}
    timeout = (settings.WHATSAPP_CONNECT_TIMEOUT, settings.WHATSAPP_READ_TIMEOUT)
    try:
        parts = urlsplit(url)
        response = _http().request(
            method, url, json=json_body, params=params, headers=headers, timeout=timeout,
            **_environment_settings(f"{parts.scheme}://{parts.netloc}/"),
        )  # fmt: skip
    except requests.Timeout as exc:
        raise WhatsAppError(f"No answer from the WhatsApp API within the timeout ({exc.__class__.__name__}).") from exc
    except requests.RequestException as exc:
        raise WhatsAppError(f"Could not reach the WhatsApp API: {exc.__class__.__name__}.") from exc

    try:
        payload = response.json()
    except ValueError:
        payload = None
    if 200 <= response.status_code < 300 and isinstance(payload, dict):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = WhatsAppError.from_error_object(payload["error"], http_status=response.status_code)
    else:
        error = WhatsAppError(
            f"Unexpected answer from the WhatsApp API: HTTP {response.status_code}.", http_status=response.status_code
        )
    logger.warning("WhatsApp API %s %s failed: %s", method, mask_phone(url), error)
    raise error


def _send(body: dict[str, Any]) -> SendResult:
    payload = _request("POST", _url(f"{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"), json_body=body)
    try:
        message = payload["messages"][0]
        contact = (payload.get("contacts") or [{}])[0]
        return SendResult(
            wamid=str(message["id"]),
            wa_id=str(contact.get("wa_id") or body["to"]),
            message_status=message.get("message_status"),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise WhatsAppError("The WhatsApp API accepted the request but its answer has no message id.") from exc


def _recipient(to: str) -> str:
    return to.strip().lstrip("+")


def send_template(
    *, to: str, template_name: str, language: str, components: list[dict], callback_data: str | None = None
) -> SendResult:
    """Send a template message to ``to`` (E.164 or WhatsApp id); raises WhatsAppError.

    ``callback_data`` goes out as ``biz_opaque_callback_data`` and comes back in every status webhook.
    """
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _recipient(to),
        "type": "template",
        "template": {"name": template_name, "language": {"code": language}, "components": components},
    }
    if callback_data:
        body["biz_opaque_callback_data"] = callback_data
    return _send(body)


def send_text(*, to: str, body: str, callback_data: str | None = None) -> SendResult:
    """Send a free-form text (allowed only within 24 h of the person's last message); raises WhatsAppError."""
    request_body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _recipient(to),
        "type": "text",
        "text": {"body": body, "preview_url": False},
    }
    if callback_data:
        request_body["biz_opaque_callback_data"] = callback_data
    return _send(request_body)


def list_templates(*, page_size: int = 100) -> list[dict]:
    """Every message template of the business account, following ``paging.next`` to the end."""
    url: str | None = _url(f"{settings.WHATSAPP_BUSINESS_ACCOUNT_ID}/message_templates")
    params: dict[str, Any] | None = {"limit": page_size}
    templates: list[dict] = []
    seen_urls: set[str] = set()
    while url:
        if url in seen_urls:  # a server that repeats its "next" link would loop forever
            raise WhatsAppError("The WhatsApp API returned the same template page twice.")
        seen_urls.add(url)
        payload = _request("GET", url, params=params)
        data = payload.get("data")
        if not isinstance(data, list):
            raise WhatsAppError("The WhatsApp API answered the template list without a 'data' list.")
        templates.extend(item for item in data if isinstance(item, dict))
        paging = payload.get("paging")
        url, params = paging.get("next") if isinstance(paging, dict) else None, None  # the next link carries limit and cursor
    return templates
