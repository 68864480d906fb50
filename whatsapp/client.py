"""The WhatsApp Cloud API client: the only module that speaks HTTP to Meta.

It imports no models so it can be used (and tested) on its own. Every failure becomes one
``WhatsAppError``. Its ``scope`` (from ``classify_error``, the one table of Meta's error codes) says how
far the failure reaches: this person, this campaign, the whole account, or nobody (retry later, slow
down, or hold the message back for a day). Its ``explanation`` says the same in words for the admin.

Whether a failed call may have reached Meta is decided here, never by the caller, and exposed as
``WhatsAppError.reached_provider``:

- False: the message certainly was not accepted. Either the request never left (connection
  refused, DNS failure, connect timeout, a proxy we could not reach, a certificate we refused), or
  Meta answered with its JSON error object (``{"error": {"code": ...}}``) and so refused it.
- True: Meta may have accepted it, so the outcome is unknown and the message must never be sent
  again blindly (its status webhook, matched by callback data, will tell): a read timeout, a
  connection cut after the request was written, any HTTP answer without Meta's JSON error body
  (a bare 500, a proxy's HTML 502 or 504), or a success answer we cannot read.

The client never retries by itself, and the HTTP library (urllib3) never leaks out of this module:
callers only see ``WhatsAppError``.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from django.conf import settings

from core.logging import mask_phone

logger = logging.getLogger(__name__)


class ErrorScope(enum.Enum):
    """How far a failure reaches, i.e. what the caller must do (values are stored in decision records)."""

    TRANSIENT = "transient"  # Meta or the network failed for now: retry later with backoff
    THROUGHPUT = "throughput"  # the number, app or account is over its rate: slow every sender down, retry
    PAIR_RATE = "pair_rate"  # too many messages to this one person lately: retry this person in minutes
    HELD_BACK = "held_back"  # Meta held back a marketing message (per-user limit): retry once after 24-48 h
    RECIPIENT = "recipient"  # final for this person
    CAMPAIGN = "campaign"  # our payload, template or flow is wrong: pause the campaign
    ACCOUNT = "account"  # the token, number, payment or account is unusable: pause all sending, tell the admin


_T, _TP, _PR, _HB = ErrorScope.TRANSIENT, ErrorScope.THROUGHPUT, ErrorScope.PAIR_RATE, ErrorScope.HELD_BACK
_R, _C, _A = ErrorScope.RECIPIENT, ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT

# What the admin must do when Meta refuses marketing on one API: said once, shown on the dashboard and as
# the reason of every campaign it pauses. The setting is the default number's switch; a sending number
# configured in the admin has its own "Marketing Messages API" field.
MARKETING_BLOCKED_ON_CLOUD_API = (
    "Meta refuses marketing templates from this business on the Cloud API. Switch the number to the Marketing "
    "Messages API: tick its \"Marketing Messages API\" field in the admin, or set WHATSAPP_MARKETING_MESSAGES_API=1 "
    "for the number in the settings (after onboarding in WhatsApp Manager)."
)
MARKETING_MESSAGES_API_REFUSED = (
    "The Marketing Messages API refused this number: it has not finished Marketing Messages API onboarding in "
    "WhatsApp Manager, or is not eligible. Finish onboarding, or switch back to the Cloud API: untick the number's "
    "\"Marketing Messages API\" field, or set WHATSAPP_MARKETING_MESSAGES_API=0."
)

# Meta's error codes as of November 2026: scope and what the admin should know. Sources:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/
# (titles and details quoted by providers: https://docs.360dialog.com/docs/support/api-error-message-list,
# https://help.botbee.io/knowledge-base/article/error-codes-reference, https://niswey.com/knowledge-base/error-codes-meta,
# https://support.dotdigital.com/en/articles/11316018-troubleshooting-guide-for-whatsapp, https://dualhook.com/docs/whatsapp-error-131064).
# Meta has sent no error_subcode since v16: only ``code`` (with ``error_data.details`` for the admin) counts.
ERROR_CODES: dict[int, tuple[ErrorScope, str]] = {
    # Authorization and permissions
    0: (_A, "WhatsApp could not authenticate our access token (expired, revoked or changed). Create a new system-user token."),
    3: (_A, "Our app lacks a capability or permission this call needs. Check the token's permissions in Meta's access token debugger."),
    10: (_A, "A permission was not granted or was removed. Check the token's permissions (whatsapp_business_messaging)."),
    190: (_A, "The access token has expired or is invalid. Create a new system-user token and update the settings."),
    131005: (_A, "Access denied: the token is not allowed to use this phone number or account."),
    # Integrity
    368: (_A, "The business account is temporarily blocked for policy violations. See the account's quality and policy page in WhatsApp Manager."),
    130497: (_R, "The business account may not message people in this person's country."),
    131031: (_A, "The business account is locked (policy violation or failed verification). See Business Support Home."),
    # Throughput and rate limits
    4: (_TP, "Too many API calls from our app: WhatsApp throttles us for a while; sending slows down and resumes."),
    80007: (_TP, "The business account reached its API call rate limit; sending slows down and resumes."),
    130429: (_TP, "The phone number's throughput limit (messages per second) was reached; sending slows down and resumes."),
    131056: (_PR, "Too many messages to this person in a short time; this person is retried in a few minutes."),
    131048: (_A, "Spam rate limit: too many of our messages were blocked or reported. Sending is paused; check the number's quality in WhatsApp Manager."),
    131064: (_A, "The account hit a messaging limit because templates were filed under the wrong category; it applies to every send until Meta lifts it."),
    # Payment, account and number
    131042: (_A, "Payment problem: no valid payment method is attached to the WhatsApp Business Account, or its credit line is used up."),
    131037: (_A, "The phone number's display name has not been approved yet. Get it approved in WhatsApp Manager."),
    131045: (_A, "The phone number was registered with a wrong certificate. Register it again."),
    131057: (_T, "The business account is in maintenance mode; sending resumes when it ends."),
    131063: (_A, MARKETING_BLOCKED_ON_CLOUD_API),
    133010: (_A, "The phone number is not registered on the Cloud API. Register it before sending."),
    33: (_A, "The business phone number was deleted or the phone number id in the settings is wrong."),
    # Temporary failures at Meta
    1: (_T, "WhatsApp reported an unknown error (possibly an outage); the send is retried."),
    2: (_T, "WhatsApp is temporarily unavailable or overloaded; the send is retried."),
    131000: (_T, "Something went wrong at WhatsApp; the send is retried."),
    131016: (_T, "A WhatsApp service is temporarily unavailable; the send is retried."),
    # This person
    130472: (_R, "This person's number is part of a Meta experiment that withholds marketing messages; not sent."),
    131021: (_R, "The recipient is our own business number; a number cannot message itself."),
    131026: (_R, "Not deliverable: not a WhatsApp user, an old app version, or the person has not accepted WhatsApp's terms."),
    131030: (_R, "This number is not in the allowed list of a test phone number; add it in the app's API setup or use a production number."),
    131047: (_R, "More than 24 hours since this person last wrote: only a template may be sent."),
    131049: (_HB, "Meta held this marketing message back to limit how many marketing messages the person gets; it may be sent once more after at least 24 hours."),
    131050: (_R, "This person stopped marketing messages from this business in WhatsApp; recorded as an opt-out."),
    131051: (_R, "The message type is not supported."),
    131052: (_R, "WhatsApp could not download the media this person sent."),
    131053: (_R, "WhatsApp could not upload the media of this message."),
    131062: (_R, "This message cannot be sent to a person known only by a business-scoped user id; it needs a phone number."),
    # Our payload, template or flow
    100: (_C, "WhatsApp rejected a parameter of the request; the details say which one."),
    131008: (_C, "A required parameter is missing from the request; the details say which one."),
    131009: (_C, "A parameter value is invalid; the details say which one."),
    132000: (_C, "The number of template parameters does not match the approved template."),
    132001: (_C, "The template does not exist in this language, or is not approved. Sync the templates."),
    132005: (_C, "The template text with its parameters filled in is too long."),
    132007: (_C, "The template's content breaks WhatsApp's format policy."),
    132008: (_C, "A template parameter is missing or malformed for this template."),
    132012: (_C, "A template parameter's format does not match the approved template (e.g. text where an image is expected)."),
    132015: (_C, "The template is paused for low quality. Edit it or wait until Meta re-approves it."),
    132016: (_C, "The template is permanently disabled for low quality. Create a new template."),
    132068: (_C, "The template's WhatsApp Flow is blocked. Fix the flow before sending again."),
    132069: (_C, "The template's WhatsApp Flow is throttled. Pause and send again once the flow is healthy."),
    # Phone number registration (the number cannot send until it is fixed)
    133000: (_A, "A previous deregistration of the phone number did not finish. Deregister it again, then register it."),
    133004: (_T, "The registration server is temporarily unavailable; try again in a few minutes."),
    133005: (_A, "The two-step verification PIN of the phone number is wrong."),
    133006: (_A, "The phone number must be verified again before it can be registered."),
    133008: (_A, "Too many two-step verification PIN guesses; wait before trying again."),
    133009: (_A, "Two-step verification PIN entered too quickly; wait before trying again."),
    133015: (_A, "The phone number was deleted recently; wait before registering it again."),
    133016: (_A, "Too many registration attempts for this phone number; wait before trying again."),
    **{code: (_A, "A permission of our app was not granted or was removed (API permission error). Check the token's permissions.") for code in range(200, 300)},
    # Marketing Messages API only (POST /{phone-number-id}/marketing_messages). Meta's MM API support page
    # (https://developers.facebook.com/docs/whatsapp/marketing-messages-lite-api/support, "Error Codes": the
    # Cloud API codes plus these) with the answers providers show: 360dialog's "Expected errors"
    # (https://docs.360dialog.com/docs/resources/marketing-messages/expected-errors-and-programming-languages:
    # 131055 "Method not allowed" for a utility/authentication template, and 131055 "You must accept the
    # Marketing Messages Lite API terms" for a number not onboarded), Chakra's MM API error list
    # (https://help.chakrahq.com/chat/faqs/whatsapp-api-error-code-troubleshooting/whatsapp-api-marketing-messages-errors)
    # and Twilio's 63054/63062 (template unavailable: check onboarding; terms not accepted).
    # 131055 cannot be told apart by code alone; we only send marketing templates there (see
    # whatsapp.numbers.marketing_messages_api_for), so it means onboarding above all: the number pauses.
    131055: (_A, MARKETING_MESSAGES_API_REFUSED),
    134100: (_C, "The Marketing Messages API takes marketing templates only, and Meta files this template under "
                 "another category now. Sync the templates: the campaign then goes through the Cloud API."),
    134101: (_T, "Meta is still linking this template to the Marketing Messages API (about 10 minutes after the template is "
                 "created or after a week unused); the send is retried."),
    134102: (_A, MARKETING_MESSAGES_API_REFUSED),
}  # fmt: skip

ERROR_SCOPES: dict[int, ErrorScope] = {code: scope for code, (scope, _) in ERROR_CODES.items()}

THROUGHPUT_CODES = frozenset(code for code, scope in ERROR_SCOPES.items() if scope is ErrorScope.THROUGHPUT)
PAIR_RATE_LIMIT_CODE = 131056
HELD_BACK_CODE = 131049
PLATFORM_OPTOUT_CODE = 131050
# 131049: "wait at least 24 hours before resending" (Meta, quoted by Dotdigital above); once, within 48 h.
HELD_BACK_RETRY_AFTER = timedelta(hours=24)
HELD_BACK_RETRY_BEFORE = timedelta(hours=48)
# A code missing from the table is retried like a transient error. The sending pipeline counts them
# per campaign and pauses the campaign once this many sends failed with unknown codes.
UNKNOWN_CODE_PAUSE_AFTER = 3


def classify_error(code: int | None, http_status: int | None = None) -> ErrorScope:
    """The scope of a Meta error ``code`` (or of a bare HTTP status when Meta sent no error body).

    Unknown codes are transient: the caller retries a few times and counts them
    (``WhatsAppError.is_known`` is False) so it can pause the campaign when they keep coming.
    """
    if code is not None and code in ERROR_SCOPES:
        return ERROR_SCOPES[code]
    if code is None and http_status in (401, 403):
        return ErrorScope.ACCOUNT
    return ErrorScope.TRANSIENT


class WhatsAppError(Exception):
    """A failed call to the Cloud API, or a ``failed`` status reported by a webhook.

    ``reached_provider`` (see the module docstring) defaults to False for an error carrying Meta's
    ``code`` (only Meta's own error object has one) and to True otherwise: an error whose origin is
    not known must be treated as a call that may have been accepted.
    """

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
        reached_provider: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode  # kept for old records only: Meta stopped sending it in v16
        self.title = title
        self.trace_id = trace_id
        self.http_status = http_status
        self.details = details
        self.reached_provider = code is None if reached_provider is None else reached_provider
        self.scope = classify_error(code, http_status)

    def __str__(self) -> str:
        code = f"#{self.code}" if self.code is not None else f"HTTP {self.http_status or '-'}"
        return f"WhatsApp error {code} ({self.scope.value}): {self.message}"

    @property
    def retry_later(self) -> bool:
        """Send again later: a passing failure, a rate limit, or too many messages to this person."""
        return self.scope in (ErrorScope.TRANSIENT, ErrorScope.THROUGHPUT, ErrorScope.PAIR_RATE)

    @property
    def recipient_final(self) -> bool:
        return self.scope is ErrorScope.RECIPIENT

    @property
    def held_back(self) -> bool:
        """Meta held back this marketing message: send it once more after HELD_BACK_RETRY_AFTER, not sooner."""
        return self.scope is ErrorScope.HELD_BACK

    @property
    def stops_campaign(self) -> bool:
        """The campaign must pause: its payload/template is wrong, or the whole account is unusable."""
        return self.scope in (ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT)

    @property
    def stops_account(self) -> bool:
        """Every campaign must pause and the admin be told (token, payment, number, policy)."""
        return self.scope is ErrorScope.ACCOUNT

    @property
    def records_platform_optout(self) -> bool:
        """The person stopped marketing messages in WhatsApp: record a ``platform`` opt-out."""
        return self.code == PLATFORM_OPTOUT_CODE

    @property
    def is_throughput(self) -> bool:
        """A rate limit of the number, app or account: slow the token bucket down."""
        return self.scope is ErrorScope.THROUGHPUT

    @property
    def is_pair_rate_limit(self) -> bool:
        """Too many messages to this one person lately: retry this recipient in minutes."""
        return self.scope is ErrorScope.PAIR_RATE

    @property
    def is_known(self) -> bool:
        """False for a Meta error code missing from ERROR_CODES (transport failures have no code: known)."""
        return self.code is None or self.code in ERROR_SCOPES

    @property
    def unknown_code(self) -> int | None:
        """The code to count toward UNKNOWN_CODE_PAUSE_AFTER, or None when the error is known."""
        return None if self.is_known else self.code

    @property
    def explanation(self) -> str:
        """What happened and what to do, in words for the admin (Meta's details appended)."""
        if self.code in ERROR_CODES:
            text = ERROR_CODES[self.code][1]
        elif self.code is not None:
            text = (
                f"WhatsApp error {self.code} is not in our table of known errors. The send is retried a few "
                f"times; if it keeps happening the campaign is paused. Meta says: {self.message}"
            )
        elif self.reached_provider:
            text = (
                "No readable answer from WhatsApp: the message may have been accepted, so it is not sent "
                "again; its delivery status will tell."
            )
        else:
            text = "WhatsApp could not be reached; nothing was sent and the send is retried."
        return f"{text} (Meta: {self.details})" if self.details else text

    @classmethod
    def from_error_object(cls, error: dict[str, Any], *, http_status: int | None = None) -> WhatsAppError:
        """Build from Meta's error object (the HTTP ``error`` or one entry of a status's ``errors``).

        Meta itself reported it, so the outcome is known: the message was not accepted (or failed).
        """
        error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
        return cls(
            str(error.get("message") or error.get("title") or "Unknown error"),
            code=_int_or_none(error.get("code")),
            subcode=_int_or_none(error.get("error_subcode")),
            title=str(error.get("title") or error.get("error_user_title") or error.get("type") or ""),
            trace_id=str(error.get("fbtrace_id") or ""),
            http_status=http_status,
            # Template refusals explain themselves in error_user_msg instead of error_data.details.
            details=str((error_data.get("details") if isinstance(error_data, dict) else "") or error.get("error_user_msg") or ""),
            reached_provider=False,
        )


def never_left(error: WhatsAppError) -> bool:
    """True when the request certainly did not reach WhatsApp (so sending again is no duplicate).

    The drop-in for callers that used to inspect the ``requests`` exception themselves.
    """
    return not error.reached_provider


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str  # empty for a send to a business-scoped user id: Meta then answers with user_id
    message_status: str | None
    user_id: str = ""


MARKETING_MESSAGES_PRODUCT_POLICY = "STRICT"  # see send_template


# --- HTTP ---------------------------------------------------------------------------------------

# Campaign senders call from thread pools (32 threads and more): the pool must not be the limit.
POOL_SIZE = 64
_pools: dict[str, urllib3.PoolManager] = {}
_pools_pid: int | None = None
_pools_lock = threading.Lock()


def _pool(origin: str) -> urllib3.PoolManager:
    """The process's pooled keep-alive connections to ``origin`` (through its proxy, if one applies).

    urllib3 directly, not ``requests``: a session call re-reads the CA bundle path and merges
    settings on every request (about a third of a sending worker's CPU went into ``requests``).
    A forked child (Celery's prefork pool) builds its own: pooled sockets must not be shared.
    ``retries=False``: never resend a POST behind the caller's back (it may have been accepted), and
    let the underlying error through so ``_transport_error`` can tell whether anything was written.
    """
    global _pools_pid
    with _pools_lock:
        if _pools_pid != os.getpid():
            _pools.clear()
            _pools_pid = os.getpid()
        if origin not in _pools:
            _pools[origin] = _pool_build(origin)
        return _pools[origin]


def _pool_build(origin: str) -> urllib3.PoolManager:
    environment = _environment_settings(origin)
    verify = environment["verify"]
    tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"} if verify is False else {"cert_reqs": "CERT_REQUIRED"}
    if verify is not False:
        bundle = requests.utils.DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
        tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    options: dict[str, Any] = {"num_pools": 4, "maxsize": POOL_SIZE, "block": False, "retries": False, **tls}
    proxy = requests.utils.select_proxy(origin, environment["proxies"])
    if not proxy:
        return urllib3.PoolManager(**options)
    username, password = requests.utils.get_auth_from_url(proxy)
    proxy_headers = urllib3.make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)


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


def _request(
    method: str, url: str, *, json_body: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
    raw_body: bytes | None = None, extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}", "Accept": "application/json",
               "User-Agent": "retarget", **(extra_headers or {})}  # fmt: skip
    timeout = urllib3.Timeout(connect=settings.WHATSAPP_CONNECT_TIMEOUT, read=settings.WHATSAPP_READ_TIMEOUT)
    try:
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        body = raw_body
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {parts.scheme}://...")
        response = _pool(f"{parts.scheme}://{parts.netloc}/").request(
            method, url, body=body, headers=headers, timeout=timeout, redirect=False
        )
    except (ValueError, urllib3.exceptions.HTTPError) as exc:
        error = _transport_error(exc)
        logger.warning("WhatsApp API %s %s failed: %s", method, mask_phone(url), error)
        raise error from exc

    try:
        payload = json.loads(response.data)
    except ValueError:
        payload = None
    if 200 <= response.status < 300 and isinstance(payload, dict):
        return payload
    meta_error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(meta_error, dict) and _int_or_none(meta_error.get("code")) is not None:
        error = WhatsAppError.from_error_object(meta_error, http_status=response.status)
    else:  # a bare 500, a proxy's HTML 502/504, an unreadable 200: Meta may have accepted it
        error = WhatsAppError(
            f"Unexpected answer from the WhatsApp API: HTTP {response.status} without Meta's error body.",
            http_status=response.status,
            reached_provider=True,
        )
    logger.warning("WhatsApp API %s %s failed: %s", method, mask_phone(url), error)
    raise error


def _transport_error(exc: Exception) -> WhatsAppError:
    """The WhatsAppError for a call that got no HTTP answer, with ``reached_provider`` decided."""
    name = exc.__class__.__name__
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError) and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return WhatsAppError(
            f"Could not connect to the WhatsApp API within the timeout ({name}).", reached_provider=False
        )
    if _connection_never_opened(exc):
        return WhatsAppError(f"Could not reach the WhatsApp API: {name}.", reached_provider=False)
    if isinstance(exc, urllib3.exceptions.TimeoutError):  # a read timeout: NewConnectionError is one too, matched above
        return WhatsAppError(
            f"No answer from the WhatsApp API within the timeout ({name}); the request may have been accepted.",
            reached_provider=True,
        )
    return WhatsAppError(
        f"The connection to the WhatsApp API broke off ({name}); the request may have been accepted.",
        reached_provider=True,
    )


def _connection_never_opened(exc: Exception) -> bool:
    """A bad URL or body, connection refused, DNS failure, proxy unreachable or certificate refused.

    Nothing was written then. With ``retries=False`` urllib3 raises the error itself; a failure after
    the request was written arrives as a ProtocolError or a read timeout instead (never matched here).
    """
    if isinstance(exc, ValueError):  # includes LocationParseError: raised while the request is prepared
        return True
    if isinstance(exc, urllib3.exceptions.ProxyError | urllib3.exceptions.NewConnectionError):
        return True  # NewConnectionError includes NameResolutionError; a ProxyError comes before the tunnel is up
    # A certificate we refused fails the TLS handshake, before the request is written.
    return isinstance(exc, urllib3.exceptions.SSLError) and any(
        isinstance(arg, ssl.SSLCertVerificationError) for arg in (exc, *exc.args, exc.__context__)
    )


def _send(body: dict[str, Any], *, phone_number_id: str | None = None, endpoint: str = "messages") -> SendResult:
    """POST to the number's ``/messages`` (or ``endpoint``); without ``phone_number_id`` from the number of the settings."""
    sender = phone_number_id or settings.WHATSAPP_PHONE_NUMBER_ID
    payload = _request("POST", _url(f"{sender}/{endpoint}"), json_body=body)
    try:
        message = payload["messages"][0]
        contact = (payload.get("contacts") or [{}])[0]
        return SendResult(
            wamid=str(message["id"]),
            wa_id=str(contact.get("wa_id") or body.get("to") or ""),
            message_status=message.get("message_status"),
            user_id=str(contact.get("user_id") or body.get("recipient") or ""),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise WhatsAppError(
            "The WhatsApp API accepted the request but its answer has no message id.", reached_provider=True
        ) from exc


def _addressed(body: dict[str, Any], to: str | None, recipient: str | None) -> dict[str, Any]:
    """The body addressed by phone (``to``) or else by business-scoped user id (``recipient``).

    Meta takes ``to`` when both are present and recommends phone numbers where known, so only the
    phone is sent then (https://dualhook.com/docs/contacts-bsuid-api-changes, mirroring Meta's
    "Business-scoped user IDs" page, https://support.chatarchitect.com/books/meta-whatsapp/page/business-scoped-user-ids-developer-documentation).
    """
    phone = (to or "").strip().lstrip("+")
    user_id = (recipient or "").strip()
    if not phone and not user_id:
        raise ValueError("A WhatsApp send needs a phone number (to) or a business-scoped user id (recipient).")
    address = {"to": phone} if phone else {"recipient": user_id}
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **address, **body}


def send_template(
    *,
    to: str | None = None,
    recipient: str | None = None,
    template_name: str,
    language: str,
    components: list[dict],
    callback_data: str | None = None,
    marketing_messages_api: bool = False,
    phone_number_id: str | None = None,
) -> SendResult:
    """Send a template message to ``to`` (E.164 or WhatsApp id) or ``recipient`` (a BSUID); raises WhatsAppError.

    ``callback_data`` goes out as ``biz_opaque_callback_data`` and comes back in every status webhook.
    ``marketing_messages_api``: post to the Marketing Messages API (``/marketing_messages``) instead of
    ``/messages``; only for a marketing template (``whatsapp.numbers.marketing_messages_api_for`` decides).
    Same body, same answer, same errors and statuses, plus the codes of ERROR_CODES' last block.
    ``phone_number_id``: which of our numbers sends it (empty: the number of the settings).
    """
    body: dict[str, Any] = {
        "type": "template",
        "template": {"name": template_name, "language": {"code": language}, "components": components},
    }
    if callback_data:
        body["biz_opaque_callback_data"] = callback_data
    if not marketing_messages_api:
        return _send(_addressed(body, to, recipient), phone_number_id=phone_number_id)
    # Meta's send page (developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/
    # send-marketing-messages) takes the Cloud API's template body; ``product_policy`` defaults to
    # CLOUD_API_FALLBACK, which sends through /messages while onboarding is not finished (Kapso's and
    # wasapflow's copies of the reference say the same). STRICT: a number switched over that is not
    # onboarded is refused (131055), so the admin learns it, instead of its marketing silently taking the
    # Cloud API path the switch was made to leave (which answers 131063 once marketing is off there).
    # ``message_activity_sharing`` is left out: the account's own setting applies.
    body["product_policy"] = MARKETING_MESSAGES_PRODUCT_POLICY
    return _send(_addressed(body, to, recipient), phone_number_id=phone_number_id, endpoint="marketing_messages")


def send_text(
    *,
    to: str | None = None,
    recipient: str | None = None,
    body: str,
    callback_data: str | None = None,
    phone_number_id: str | None = None,
) -> SendResult:
    """Send a free-form text (allowed only within 24 h of the person's last message); raises WhatsAppError.

    Addressed like ``send_template``: a phone number (``to``) or else a business-scoped user id (``recipient``).
    """
    request_body: dict[str, Any] = {"type": "text", "text": {"body": body, "preview_url": False}}
    if callback_data:
        request_body["biz_opaque_callback_data"] = callback_data
    return _send(_addressed(request_body, to, recipient), phone_number_id=phone_number_id)


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


def create_template(definition: dict[str, Any]) -> dict[str, Any]:
    """Submit a new message template for review; Meta answers ``{"id", "status", "category"}``.

    ``POST /{waba-id}/message_templates`` with ``name``, ``language``, ``category``, ``components`` (and
    ``parameter_format``). The answer's status is PENDING for a template Meta reviews (sources: see
    whatsapp/template_rules.py). Raises WhatsAppError, with Meta's words in ``details`` when it refuses.
    """
    payload = _request("POST", _url(f"{settings.WHATSAPP_BUSINESS_ACCOUNT_ID}/message_templates"), json_body=definition)
    if not str(payload.get("id") or ""):
        raise WhatsAppError("The WhatsApp API accepted the template but its answer has no template id.", reached_provider=True)
    return payload


def upload_example_file(*, data: bytes, file_name: str, file_type: str) -> str:
    """Upload a sample file with Meta's Resumable Upload API; returns its handle (``h``).

    Two calls (https://developers.facebook.com/docs/graph-api/guides/upload): ``POST /{app-id}/uploads``
    with ``file_name``, ``file_length`` and ``file_type`` opens a session (``{"id": "upload:..."}``),
    then ``POST /{session id}`` with the bytes, ``Authorization: OAuth <token>`` and ``file_offset: 0``
    answers ``{"h": "<handle>"}``, the value a template's ``example.header_handle`` takes. Nothing is
    sent to anyone, so a broken call may simply be made again. Raises WhatsAppError.
    """
    if not settings.WHATSAPP_APP_ID:
        raise WhatsAppError("WHATSAPP_APP_ID is not set: a sample file cannot be uploaded.", reached_provider=False)
    session = _request(
        "POST", _url(f"{settings.WHATSAPP_APP_ID}/uploads"),
        params={"file_name": file_name, "file_length": len(data), "file_type": file_type},
    )  # fmt: skip
    session_id = str(session.get("id") or "")
    if not session_id.startswith("upload:"):
        raise WhatsAppError("The WhatsApp API opened no upload session (its answer has no upload id).", reached_provider=True)
    uploaded = _request(
        "POST", _url(session_id), raw_body=data,
        extra_headers={"Authorization": f"OAuth {settings.WHATSAPP_ACCESS_TOKEN}", "file_offset": "0",
                       "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    handle = str(uploaded.get("h") or "")
    if not handle:
        raise WhatsAppError("The WhatsApp API took the file but gave no handle for it.", reached_provider=True)
    return handle
