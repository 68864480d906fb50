"""The sandbox: a fake WhatsApp Cloud API server for development, tests and benchmarks.

It answers our endpoints the way Meta does (shapes and error codes of the shared Cloud API notes)
and delivers signed webhooks (``X-Hub-Signature-256``, the WABA id in ``entry.id``, ``metadata`` with the
phone number id on ``messages`` changes) back to the app. It runs without Django.

API (``/{version}/...``, bearer token required):
- ``POST /{version}/{phone_number_id}/messages``: template or text message, addressed with ``to`` (a phone
  number) or ``recipient`` (a business-scoped user id, BSUID).
- ``POST /{version}/{phone_number_id}/marketing_messages``: the Marketing Messages API: the same template
  body (plus ``product_policy``, ``message_activity_sharing``) and answer; marketing templates only
  (others: 134100, a non-template: 100). Each send records the ``endpoint`` that took it.
- ``GET /{version}/{waba_id}/message_templates?limit=&after=``: the template list, paged.
- ``POST /{version}/{app_id}/uploads`` then ``POST /{version}/upload:<session>`` (``Authorization: OAuth``,
  ``file_offset: 0``, the bytes): Meta's Resumable Upload API for a template header's sample file; answers
  ``{"id": "upload:..."}`` then ``{"h": handle}``.
- ``POST /{version}/{waba_id}/message_templates``: create a template (Meta's rules in ``template_rules``;
  a name taken in that language is refused with code 100 / subcode 2388024); it answers ``{"id", "status":
  "PENDING", "category"}`` and stays PENDING until ``/_sandbox/notify`` sends its review
  (``{"field": "message_template_status_update", "template", "language", "event": "APPROVED" | "REJECTED"}``).

Control (``/_sandbox/...``, no token):
- ``GET /_sandbox/sends``: every accepted send, in order (``?offset=N`` for the rest), each with the
  ``phone_number_id`` it was sent from; ``by_number`` counts the accepted sends of each number.
- ``GET /_sandbox/webhooks``: webhook delivery counters (``?log=1`` adds the log of posted events).
- ``GET|POST /_sandbox/config``: read or change behaviour (partial JSON object; the switches below).
- ``POST /_sandbox/reset``: forget sends and webhooks, restore the start-up configuration.
- ``POST /_sandbox/inbound``: make a person write to us (``{"from", "text"}``, ``{"from", "button"}``
  or ``{"from", "user_preference": "stop"|"resume"}``; ``"user_id"`` instead of ``"from"`` for a person
  known only by a BSUID; ``"to"``: the phone number id of the number they write to, default the main one).
- ``POST /_sandbox/user_id_change``: ``{"from": number | "user_id": bsuid, "new_user_id"?}`` emits a
  ``system`` message of type ``user_changed_user_id``; later webhooks carry the new BSUID.
- ``POST /_sandbox/notify``: ``{"field": ..., ...}`` emits an account or template webhook (see
  ``business_events.py``): ``message_template_status_update`` (``template``, ``language``, ``event``,
  ``reason``), ``template_category_update`` (``previous_category``, ``new_category``),
  ``message_template_quality_update`` (``new_quality_score``), ``phone_number_quality_update``
  (``event``, ``max_daily_conversations_per_business``), ``account_update`` (``event``), or ``errors``
  (``code``/``codes``: out-of-band errors in ``entry.changes.value.errors``). Template events also change
  the sandbox's copy of the template (a PAUSED template then refuses sends with 132015).
- ``GET /_sandbox/health``.
- ``GET /_sandbox/uploads``: the upload sessions opened (``file_name``, ``file_type``, ``file_length``) and, once
  the bytes came, the ``handle`` given and the file's ``sha256``.

Phones (HTML for people, see ``phones.py``): ``GET /_sandbox/phones`` lists the numbers the app wrote to;
``GET /_sandbox/phones/<number or BSUID>`` shows what that phone received as a chat (header, body, footer,
buttons); its forms (``POST /_sandbox/phones/<number>/reply``: a quick-reply press, STOP or a text) come
back to the app as signed ``messages`` webhooks, like ``/_sandbox/inbound``.

Several business numbers: the main one (``phone_number_id``, ``display_phone_number``, ``throughput``) and
``more_numbers`` (``[{"phone_number_id", "display_phone_number", "throughput"?}]``). Each accepts sends at
its own ``/{phone_number_id}/messages``, counts them, refuses more than its ``throughput`` messages in any
second with 130429 (0: no limit, the default) and sends its webhooks with its own ``metadata``.

Behaviour switches (``POST /_sandbox/config``; all off by default, ``reset`` turns them off again):
- ``username_users``: ``[{"number"|"suffix", "user_id"?, "username"?, "parent_user_id"?, "country"?,
  "hide_phone"?: true}]``: these people have a WhatsApp username. Their webhooks carry ``user_id`` /
  ``from_user_id`` / ``recipient_user_id`` (and ``username``, ``parent_user_id``) and, with ``hide_phone``,
  no ``wa_id`` / ``from`` / ``recipient_id`` (unless the send was addressed to the phone number). Without
  ``user_id`` the BSUID is derived from the number (``people.derived_user_id``). See ``people.py``.
- ``send_faults``: ``[{"code": 131042 | "fault": kind, target?, "times"?, "http_status"?, "details"?,
  "accepted"?, "hold"?}]``: the first rule matching a valid send answers it instead of Meta's success.
  ``code``: any Meta error code with its JSON body and HTTP status (``errors.CATALOG``). ``fault``:
  ``bare_500`` (empty body), ``plain_500`` (text), ``html_502`` (a proxy's HTML page),
  ``gateway_timeout_504`` (HTML), ``cut_after_body`` (the connection is cut after the request was read).
  Target: ``number``, ``suffix`` or ``user_id``; none = every send. ``times``: the rule answers that many
  sends, then stands aside (``{"code": 131000, "times": 2}`` = the next two sends). ``accepted`` (default
  true for ``cut_after_body`` only): the send still counts as accepted inside the sandbox and its statuses
  flow, i.e. the message may have been delivered although the client saw a failure. ``hold``: seconds
  before the answer (or the cut).
- ``marketing_messages_api_onboarded`` (default true): false = the business has not finished Marketing
  Messages API onboarding: a ``/marketing_messages`` send with ``product_policy`` STRICT is refused with
  131055, one without falls back to the Cloud API (its send records ``endpoint: messages``, ``fallback``).
  ``marketing_blocked_on_cloud_api``: ``/messages`` refuses marketing templates with 131063.
- ``upload_fault``: ``"bare_500"``: the bytes of a sample file (``POST /upload:<session>``) get an empty HTTP
  500, as from a proxy; nothing is stored and no handle is given.
- ``status_order``: e.g. ``["sent", "read"]`` (read without delivered), ``["sent", "read", "delivered"]``
  (delivered after read), ``["sent", "delivered", "read", "played"]``; ``null`` = sent, then delivered and
  read by ``delivered_rate`` / ``read_rate``. ``statuses_in_one_envelope``: all of a message's statuses in
  one ``statuses[]`` array. ``status_copies``: each status webhook is delivered that many times.
- ``pricing_category`` (default: the template's category, or ``service``; e.g. ``marketing_lite``),
  ``pricing_type`` (``regular`` / ``free_customer_service`` / ``free_entry_point``), ``pricing_model``,
  ``pricing_billable`` (``true``/``false``, or ``null`` to omit the deprecated field).
- ``webhook_redelivery_base_delay``, ``webhook_redelivery_window`` (seconds; default 7 days like Meta),
  ``webhook_retries``: a delivery not answered 200 (or whose receiver is down) is redelivered after the base
  delay, then twice as long each time, while inside the window and, unless ``webhook_retries`` is -1, at
  most ``webhook_retries`` times (default 3, so a dead receiver does not keep deliveries pending forever).
- Older switches keep working: ``failure_rules`` (``"at": "send"`` refuses the send, otherwise a failed
  status), ``reply_rules``, ``throttle_rate`` (429/130429), ``server_error_rate`` (500/131000 in Meta's
  JSON), ``latency``, the ``*_delay`` and ``*_rate`` settings, ``webhook_batch_max``.

Error choices where Meta's exact answer is not pinned down by the notes: a missing or wrong token
gives HTTP 401 with code 190; an unknown phone number or account id gives 400 with code 100
(subcode 33); a malformed field gives 400 with code 100; a missing template field gives 131008;
throttling gives HTTP 429 with code 130429; a simulated outage gives HTTP 500 with code 131000.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import random
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from whatsapp.sandbox import business_events, phones
from whatsapp.sandbox.catalog import default_templates
from whatsapp.sandbox.errors import api_error_body, describe, webhook_error
from whatsapp.sandbox.people import (
    BSUID_RE,
    Person,
    derived_user_id,
    digits,
    person_from_rule,
    rule_matches,
    validate_username_users,
)
from whatsapp.template_rules import UPLOAD_FILE_TYPES, definition_problems
from whatsapp.template_shape import (
    MEDIA_FORMATS,
    body_parameter_names,
    buttons,
    carousel_cards,
    dynamic_url_button,
    header_format,
    header_parameter_names,
    limited_time_offer,
)

logger = logging.getLogger("whatsapp.sandbox")

VERSION_RE = re.compile(r"^v\d+\.\d+$")
MAX_TEXT_BODY = 4096
PARAMETER_TYPES = {
    "text", "currency", "date_time", "image", "document", "video", "payload", "location", "coupon_code", "action",
    "limited_time_offer",
}  # fmt: skip
COMPONENT_TYPES = {"header", "body", "button", "limited_time_offer", "carousel"}
# The parameter each button kind takes when sent (Meta's send reference; carousel and limited-time offer pages).
BUTTON_PARAMETER = {"url": "text", "quick_reply": "payload", "copy_code": "coupon_code"}
BUTTON_SUB_TYPES = {"url", "quick_reply", "copy_code", "flow", "catalog"}
STATUSES = {"sent", "delivered", "read", "played"}
# Meta's pricing.type values (status webhook reference; pywa PricingType). pywa reads the key as
# "pricing_type" where Meta's reference and provider copies (Gupshup's PMP events) show "type": we follow Meta.
PRICING_TYPES = {"regular", "free_customer_service", "free_entry_point"}
MM_PRODUCT_POLICIES = {"CLOUD_API_FALLBACK", "STRICT"}
DIRTY_FAULTS = {"bare_500", "plain_500", "html_502", "gateway_timeout_504", "cut_after_body"}
WEEK = 7 * 24 * 3600.0  # Meta redelivers a failed webhook for up to about 7 days


def _default_failure_rules() -> list[dict]:
    return [{"suffix": "0000", "code": 131026}, {"suffix": "0050", "code": 131050}]


def _default_reply_rules() -> list[dict]:
    return [{"suffix": "0099", "text": "STOP", "delay": 0.3}]


@dataclass
class SandboxConfig:
    """Behaviour of the sandbox; every field can be changed at run time through /_sandbox/config."""

    access_token: str = "sandbox-token"
    app_secret: str = "sandbox-app-secret"
    phone_number_id: str = "100000000000001"
    waba_id: str = "200000000000002"
    app_id: str = "300000000000003"  # the Meta app: sample files are uploaded to it
    display_phone_number: str = "15550001111"
    throughput: float = 0.0  # the main number's messages per second; 0: no limit
    more_numbers: list[dict] = field(default_factory=list)  # further numbers of the business
    webhook_url: str = ""
    latency: float = 0.0  # seconds before every API answer
    sent_delay: float = 0.05
    delivered_delay: float = 0.1
    read_delay: float = 0.2
    delivered_rate: float = 1.0  # share of sent messages later delivered
    read_rate: float = 1.0  # share of delivered messages later read
    throttle_rate: float = 0.0  # share of sends refused with 130429
    server_error_rate: float = 0.0  # share of sends refused with HTTP 500 / 131000
    # A send to a matching number ({"suffix"|"number", "code"}) is accepted, then fails in a webhook
    # with the rule's code; with "at": "send" the request itself is refused with that code.
    failure_rules: list[dict] = field(default_factory=_default_failure_rules)
    # After a template send to a matching number, the person answers (text or button press).
    reply_rules: list[dict] = field(default_factory=_default_reply_rules)
    username_users: list[dict] = field(default_factory=list)
    send_faults: list[dict] = field(default_factory=list)
    # The Marketing Messages API: whether the business finished onboarding (else STRICT sends are refused
    # with 131055 and the others fall back to the Cloud API), and whether Meta refuses marketing templates
    # on the Cloud API's /messages (131063).
    marketing_messages_api_onboarded: bool = True
    marketing_blocked_on_cloud_api: bool = False
    upload_fault: str = ""  # "bare_500": the upload of a sample file's bytes answers a proxy's empty 500
    status_order: list[str] | None = None
    statuses_in_one_envelope: bool = False
    status_copies: int = 1
    pricing_category: str = ""
    pricing_type: str = "regular"
    pricing_model: str = "PMP"
    pricing_billable: bool | None = True
    webhook_concurrency: int = 32
    webhook_batch_max: int = 1  # >1 merges queued events into one multi-change envelope
    webhook_retries: int = 3  # -1: no limit but the redelivery window
    webhook_redelivery_base_delay: float = 0.1
    webhook_redelivery_window: float = WEEK
    webhook_timeout: float = 10.0
    seed: int | None = None
    templates: list[dict] = field(default_factory=default_templates)

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        known = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        values = dataclasses.asdict(self)
        for name, value in changes.items():
            current = values[name]
            if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if current is not None and value is not None and not isinstance(value, type(current)):
                raise ValueError(f"{name}: expected {type(current).__name__}, got {type(value).__name__}")
            values[name] = value
        for name in ("delivered_rate", "read_rate", "throttle_rate", "server_error_rate"):
            if not 0.0 <= values[name] <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        _validate_behaviour(values)
        return SandboxConfig(**values)

    def public(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["templates"] = [f"{t['name']}/{t['language']} {t['status']}" for t in self.templates]
        return data


def _validate_numbers(values: dict[str, Any]) -> None:
    if values["throughput"] < 0:
        raise ValueError("throughput: must not be negative (0: no limit)")
    numbers = values["more_numbers"]
    if not isinstance(numbers, list):
        raise ValueError("more_numbers: expected a list of objects")
    seen = {values["phone_number_id"]}
    for position, number in enumerate(numbers):
        if not isinstance(number, dict) or not str(number.get("phone_number_id") or "").isdigit():
            raise ValueError(f"more_numbers[{position}]: needs a 'phone_number_id' of digits")
        if number["phone_number_id"] in seen:
            raise ValueError(f"more_numbers[{position}]: phone_number_id {number['phone_number_id']} is there already")
        seen.add(number["phone_number_id"])
        throughput = number.get("throughput", 0)
        if isinstance(throughput, bool) or not isinstance(throughput, int | float) or throughput < 0:
            raise ValueError(f"more_numbers[{position}].throughput: expected messages per second (0: no limit)")


def _validate_behaviour(values: dict[str, Any]) -> None:
    _validate_numbers(values)
    validate_username_users(values["username_users"])
    order = values["status_order"]
    if order is not None and (not isinstance(order, list) or not set(order) <= STATUSES):
        raise ValueError(f"status_order: expected null or a list of {', '.join(sorted(STATUSES))}")
    if values["status_copies"] < 1:
        raise ValueError("status_copies: must be at least 1")
    if values["pricing_billable"] not in (True, False, None):
        raise ValueError("pricing_billable: expected true, false or null (omitted)")
    if values["pricing_type"] not in PRICING_TYPES:
        raise ValueError(f"pricing_type: expected one of {', '.join(sorted(PRICING_TYPES))}")
    if values["webhook_redelivery_base_delay"] <= 0 or values["webhook_redelivery_window"] < 0:
        raise ValueError("webhook_redelivery_base_delay must be positive and webhook_redelivery_window not negative")
    faults = values["send_faults"]
    if not isinstance(faults, list):
        raise ValueError("send_faults: expected a list of objects")
    for position, rule in enumerate(faults):
        if not isinstance(rule, dict) or ("code" in rule) == ("fault" in rule):
            raise ValueError(f"send_faults[{position}]: needs either 'code' (a Meta error code) or 'fault'")
        if "code" in rule and (not isinstance(rule["code"], int) or isinstance(rule["code"], bool)):
            raise ValueError(f"send_faults[{position}].code: expected an integer such as 131042")
        if "fault" in rule and rule["fault"] not in DIRTY_FAULTS:
            raise ValueError(f"send_faults[{position}].fault: expected one of {', '.join(sorted(DIRTY_FAULTS))}")
        if "times" in rule and (not isinstance(rule["times"], int) or rule["times"] < 1):
            raise ValueError(f"send_faults[{position}].times: expected a positive integer")


class GraphError(Exception):
    """An error answered in Meta's shape."""

    def __init__(
        self, http_status: int, code: int, message: str, *, details: str = "", subcode: int | None = None, title: str = "",
        user_message: str = "",
    ) -> None:
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message
        self.details, self.subcode, self.title, self.user_message = details, subcode, title, user_message

    def response(self) -> web.Response:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.title:
            error["error_user_title"] = self.title
        if self.user_message:
            error["error_user_msg"] = self.user_message
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
        return web.json_response({"error": error}, status=self.http_status)


class CatalogError(GraphError):
    """A refusal with one of Meta's error codes, body built from the error catalog."""

    def __init__(self, code: int, *, http_status: int | None = None, details: str = ""):
        meta = describe(code)
        super().__init__(http_status or meta.http_status, code, f"(#{code}) {meta.title}", details=details)

    def response(self) -> web.Response:
        return web.json_response(api_error_body(self.code, details=self.details), status=self.http_status)


def _invalid(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details)


def _count_mismatch(details: str) -> GraphError:
    return GraphError(400, 132000, "(#132000) Number of parameters does not match the expected number of params", details=details)


def _format_mismatch(details: str) -> GraphError:
    return GraphError(400, 132012, "(#132012) Parameter format does not match format in the created template", details=details)


def _missing(details: str) -> GraphError:
    return GraphError(400, 131008, "(#131008) Required parameter is missing", details=details)


# Bodies of failures that do not come from Meta's API but from a proxy or load balancer in front of it.
PROXY_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
PROXY_504 = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Delivery:
    """One webhook envelope on its way: its bytes stay the same for every redelivery."""

    epoch: int
    changes: list[tuple[str, dict]]
    body: bytes
    attempts: int = 0
    first_attempt_at: float = 0.0


class Sandbox:
    """State of one sandbox process: configuration, send log, webhook dispatcher."""

    def __init__(self, config: SandboxConfig):
        self.initial_config = config
        self.config = config
        self.random = random.Random(config.seed)
        self.sends: list[dict] = []
        self.sends_by_number: dict[str, int] = {}
        self.recent_sends: dict[str, deque[float]] = {}  # per number: when its sends of the last second came
        self.wamid_counter = itertools.count(1)
        self.epoch = 0
        self.timers: set[asyncio.TimerHandle] = set()
        self.queue: asyncio.Queue[tuple[int, str, dict]] = asyncio.Queue()
        self.webhook_log: list[dict] = []
        self.webhooks_pending = 0
        self.webhooks_delivered = 0
        self.webhooks_failed = 0
        self.webhooks_redelivered = 0  # redelivery attempts, whatever their outcome
        self.refused: dict[str, int] = {}
        self.upload_sessions: dict[str, dict] = {}  # "upload:<id>" -> what was announced, then the handle
        self.inbound_log: list[dict] = []  # what people "wrote", for the phone pages
        self.fault_uses: list[int] = [0] * len(config.send_faults)
        self.changed_user_ids: dict[str, str] = {}  # phone number -> its BSUID after user_changed_user_id
        self.people_by_user_id: dict[str, Person] = {}
        self.http: ClientSession | None = None
        self.workers: list[asyncio.Task] = []
        self.redeliveries: set[asyncio.Task] = set()

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        connector = TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
        self.http = ClientSession(connector=connector)
        self._start_workers()

    async def stop(self, app: web.Application) -> None:
        for task in [*self.workers, *self.redeliveries]:
            task.cancel()
        for timer in self.timers:
            timer.cancel()
        if self.http:
            await self.http.close()

    def _start_workers(self) -> None:
        for worker in self.workers:
            worker.cancel()
        self.workers = [asyncio.create_task(self._deliver_forever()) for _ in range(max(1, self.config.webhook_concurrency))]

    def reset(self) -> None:
        self.epoch += 1  # events scheduled before the reset are dropped
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.sends.clear()
        self.sends_by_number.clear()
        self.recent_sends.clear()
        self.webhook_log.clear()
        self.webhooks_pending = self.webhooks_delivered = self.webhooks_failed = self.webhooks_redelivered = 0
        self.refused.clear()
        self.upload_sessions.clear()
        self.inbound_log.clear()
        self.changed_user_ids.clear()
        self.people_by_user_id.clear()
        self.configure_from(self.initial_config)
        self.fault_uses = [0] * len(self.config.send_faults)

    def configure_from(self, config: SandboxConfig) -> None:
        concurrency_changed = config.webhook_concurrency != self.config.webhook_concurrency
        if config.send_faults != self.config.send_faults:
            self.fault_uses = [0] * len(config.send_faults)
        self.config = config
        self.random = random.Random(config.seed)
        if concurrency_changed:
            self._start_workers()

    # --- helpers ------------------------------------------------------------------------------

    def new_wamid(self, wa_id: str) -> str:
        raw = f"{wa_id}:{next(self.wamid_counter)}:{uuid.uuid4().hex}".encode()
        return "wamid." + base64.b64encode(raw).decode().rstrip("=")

    def _check_token(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")  # "Bearer <token>"; the upload session call uses "OAuth <token>"
        token = given if scheme in ("Bearer", "OAuth") else request.query.get("access_token", "")
        if not token:
            raise GraphError(401, 190, "An access token is required to request this resource.")
        if not hmac.compare_digest(token, self.config.access_token):
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def _check_version(self, version: str) -> None:
        if not VERSION_RE.match(version):
            raise GraphError(400, 2500, f"Unknown path components: /{version}")

    def _check_call(self, request: web.Request, object_id: str) -> None:
        """The token, the version and the object (our phone number or account) of an API call."""
        self._check_token(request)
        self._check_version(request.match_info["version"])
        if request.match_info["object_id"] != object_id:
            raise self._unknown_object(request.match_info["object_id"])

    def _unknown_object(self, object_id: str) -> GraphError:
        return GraphError(
            400, 100,
            f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            subcode=33,
        )

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    # --- numbers ------------------------------------------------------------------------------

    def number(self, phone_number_id: str | None = None) -> dict | None:
        """The business number with this id (None: the main one), or None when there is none."""
        config = self.config
        main = {"phone_number_id": config.phone_number_id, "display_phone_number": config.display_phone_number,
                "throughput": config.throughput}  # fmt: skip
        if phone_number_id is None or phone_number_id == config.phone_number_id:
            return main
        return next((number for number in config.more_numbers if number["phone_number_id"] == phone_number_id), None)

    def _over_throughput(self, number: dict) -> bool:
        """Whether one more send now would exceed the number's messages per second (then it is refused)."""
        throughput = float(number.get("throughput") or 0)
        if throughput <= 0:
            return False
        now = time.monotonic()
        recent = self.recent_sends.setdefault(number["phone_number_id"], deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= throughput:
            return True
        recent.append(now)
        return False

    # --- people -------------------------------------------------------------------------------

    def person_for_phone(self, wa_id: str) -> Person:
        rule = next((r for r in self.config.username_users if rule_matches(r, wa_id)), None)
        if rule is None:
            return Person(wa_id=wa_id)
        person = person_from_rule(rule, wa_id)
        if wa_id in self.changed_user_ids:
            person = dataclasses.replace(person, user_id=self.changed_user_ids[wa_id])
        self.people_by_user_id[person.user_id] = person
        return person

    def person_for_user_id(self, user_id: str) -> Person:
        if user_id in self.people_by_user_id:
            return self.people_by_user_id[user_id]
        for rule in self.config.username_users:
            if "number" in rule:
                person = self.person_for_phone(digits(str(rule["number"])))
                if person.user_id == user_id:
                    return person
        return Person(wa_id="", user_id=user_id, hide_phone=True)  # known to Meta only by this BSUID

    # --- API: messages ------------------------------------------------------------------------

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._send_request(request, endpoint="messages")

    async def marketing_messages(self, request: web.Request) -> web.StreamResponse:
        """The Marketing Messages API: the same body and answer as /messages, for marketing templates only."""
        return await self._send_request(request, endpoint="marketing_messages")

    async def _send_request(self, request: web.Request, *, endpoint: str) -> web.StreamResponse:
        received = await self._received(request)
        if received is None:
            return self._dropped_by_reset(request)
        raw_body, epoch = received
        try:
            self._check_token(request)
            self._check_version(request.match_info["version"])
            number = self.number(request.match_info["object_id"])
            if number is None:
                raise self._unknown_object(request.match_info["object_id"])
            try:
                body = json.loads(raw_body)
            except ValueError:
                raise _invalid("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise _invalid("The request body must be a JSON object.")
            send = self._validate_send(body)
            self._check_endpoint(body, send, endpoint=endpoint, version=request.match_info["version"])
            fault = self._take_fault(send)
            if fault is not None and "fault" in fault:
                return await self._dirty_answer(request, send, fault)
            if fault is not None:
                if fault.get("hold"):
                    await asyncio.sleep(float(fault["hold"]))
                    if self.epoch != epoch:
                        return self._dropped_by_reset(request)
                raise CatalogError(int(fault["code"]), http_status=fault.get("http_status"), details=str(fault.get("details", "")))
            refusal = next(
                (r for r in self.config.failure_rules if r.get("at") == "send" and rule_matches(r, send["wa_id"], send["user_id"])),
                None,
            )
            if refusal is not None:
                code = int(refusal["code"])
                raise CatalogError(code, http_status=refusal.get("http_status"), details=f"Sandbox failure rule for code {code}.")
            if self.config.server_error_rate and self.random.random() < self.config.server_error_rate:
                raise GraphError(500, 131000, "(#131000) Something went wrong", details="Simulated outage.")
            if (self.config.throttle_rate and self.random.random() < self.config.throttle_rate) or self._over_throughput(number):
                raise GraphError(
                    429, 130429, "(#130429) Rate limit hit",
                    details="Cloud API message throughput has been reached.",
                )
        except GraphError as error:
            self._refuse(str(error.code))
            return error.response()
        send["phone_number_id"] = number["phone_number_id"]
        return self._accept(send)

    async def _received(self, request: web.Request) -> tuple[bytes, int] | None:
        """The call's body and the reset period it arrived in, once its latency has passed; None when
        a reset came meanwhile (then drop it).

        Read first, then take the latency: a request sent in full is received, like at a remote
        server, even if its client dies before the answer (the client then cannot know).
        """
        raw_body = await request.read()
        epoch = self.epoch
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        return (raw_body, epoch) if self.epoch == epoch else None

    @staticmethod
    def _dropped_by_reset(request: web.Request) -> web.Response:
        """A call that arrived before a reset and was still held when it came: its client gave up long ago
        (a read timeout), and logging or refusing it now, under the next test's switches, would put it in
        that test's sends. Like the reset had cut the line: no answer, nothing recorded."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never reaches the client

    def _check_endpoint(self, body: dict, send: dict, *, endpoint: str, version: str) -> None:
        """What the endpoint itself refuses, and which one took the message (``send["endpoint"]``).

        /marketing_messages (Meta's MM API support page and 360dialog's "Expected errors", cited in
        whatsapp/client.py): a non-template is 100 "Message must be a template message."; a utility or
        authentication template is 134100 from v23.0 on (131055 "Method not allowed" before); a number
        not onboarded is 131055 with ``product_policy`` STRICT, else the message falls back to the
        Cloud API (Meta's default, CLOUD_API_FALLBACK). /messages answers 131063 to a marketing template
        once marketing is off on the Cloud API (switch ``marketing_blocked_on_cloud_api``).
        """
        send["endpoint"] = endpoint
        category = str((send.get("template") or {}).get("category", "")).upper()
        if endpoint == "marketing_messages":
            if send["type"] != "template":
                raise GraphError(400, 100, "(#100) Invalid parameter", details="Message must be a template message.")
            policy = body.get("product_policy", "CLOUD_API_FALLBACK")
            if policy not in MM_PRODUCT_POLICIES:
                raise _invalid(f"product_policy must be one of {', '.join(sorted(MM_PRODUCT_POLICIES))}, got {policy!r}.")
            if "message_activity_sharing" in body and not isinstance(body["message_activity_sharing"], bool):
                raise _invalid("message_activity_sharing must be true or false.")
            send["product_policy"] = policy
            if category != "MARKETING":
                if _version_number(version) >= (23, 0):
                    raise CatalogError(134100, details=f"Template category {category} is not supported; only marketing templates are.")
                raise GraphError(400, 131055, "(#131055) Method not allowed", details="Only marketing template messages are supported")
            if not self.config.marketing_messages_api_onboarded:
                if policy == "STRICT":
                    raise GraphError(
                        400, 131055, "(#131055) You must accept the Marketing Messages API terms to use the API.",
                        details="The business has not finished onboarding to the Marketing Messages API.",
                    )
                send["endpoint"], send["fallback"] = "messages", True  # delivered through the Cloud API
        if send["endpoint"] == "messages" and category == "MARKETING" and self.config.marketing_blocked_on_cloud_api:
            raise CatalogError(131063)

    def _take_fault(self, send: dict) -> dict | None:
        """The first send fault that applies to this send, counted against its ``times``."""
        for position, rule in enumerate(self.config.send_faults):
            targeted = any(key in rule for key in ("number", "suffix", "user_id"))
            if targeted and not rule_matches(rule, send["wa_id"], send["user_id"]):
                continue
            if "times" in rule and self.fault_uses[position] >= rule["times"]:
                continue
            self.fault_uses[position] += 1
            return rule
        return None

    async def _dirty_answer(self, request: web.Request, send: dict, rule: dict) -> web.StreamResponse:
        """A failure without Meta's JSON error body, as a proxy, a load balancer or a broken link gives it."""
        kind = rule["fault"]
        if rule.get("accepted", kind == "cut_after_body"):
            self._record(send, answered=kind)  # Meta got it: its statuses will flow
        else:
            self._refuse(kind)
        if rule.get("hold"):
            await asyncio.sleep(float(rule["hold"]))
        if kind == "cut_after_body":
            assert request.transport is not None
            request.transport.abort()  # the client sees a reset connection, never an answer
            return web.Response(status=500)  # never reaches the client
        if kind == "bare_500":
            return web.Response(status=int(rule.get("http_status", 500)), body=b"")
        if kind == "plain_500":
            return web.Response(status=int(rule.get("http_status", 500)), text="Internal Server Error")
        page, status = (PROXY_502, 502) if kind == "html_502" else (PROXY_504, 504)
        return web.Response(status=int(rule.get("http_status", status)), text=page, content_type="text/html")

    def _validate_send(self, body: dict) -> dict:
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(400, 100, "(#100) The parameter messaging_product is required.")
        recipient_type = body.get("recipient_type", "individual")
        if recipient_type != "individual":
            raise _invalid("recipient_type must be 'individual'.")
        to, recipient = body.get("to"), body.get("recipient")
        if to is not None and recipient is not None:
            raise _invalid("Give either to (a phone number) or recipient (a business-scoped user id), not both.")
        if recipient is not None:
            # A business-scoped user id instead of a phone number (Meta's BSUID page: "recipient").
            if not isinstance(recipient, str) or not BSUID_RE.match(recipient.strip()):
                raise _invalid(f"The parameter recipient ('{recipient}') is not a valid business-scoped user id.")
            person = self.person_for_user_id(recipient.strip())
        else:
            if not isinstance(to, str) or not to.strip():
                raise GraphError(400, 100, "(#100) The parameter to is required.")
            if not re.fullmatch(r"\+?\d{6,15}", to.strip()):
                raise _invalid(f"The parameter to ('{to}') is not a valid phone number.")
            person = self.person_for_phone(digits(to))
        callback = body.get("biz_opaque_callback_data")
        if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
            raise _invalid("biz_opaque_callback_data must be a string of at most 512 characters.")
        kind = body.get("type", "text")
        send: dict[str, Any] = {
            "to": to, "recipient": recipient, "wa_id": person.wa_id, "user_id": person.user_id, "person": person,
            "type": kind, "callback_data": callback,
        }  # fmt: skip
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"].strip():
                raise GraphError(400, 100, "(#100) The parameter text['body'] is required.")
            if len(text["body"]) > MAX_TEXT_BODY:
                raise _invalid(f"text['body'] is longer than {MAX_TEXT_BODY} characters.")
            send["text"] = text["body"]
        elif kind == "template":
            send.update(self._validate_template(body.get("template")))
        else:
            raise _invalid(f"Param type must be one of {{TEXT, TEMPLATE}} in this sandbox, got {kind!r}.")
        return send

    def _validate_template(self, template: Any) -> dict:
        if not isinstance(template, dict):
            raise _missing("Parameter 'template' is required for type template.")
        name = template.get("name")
        if not isinstance(name, str) or not name:
            raise _missing("template['name'] is required.")
        language = template.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            raise _missing("template['language']['code'] is required.")
        code = language["code"]
        components = template.get("components", [])
        if not isinstance(components, list):
            raise _invalid("template['components'] must be a list.")
        stored = next((t for t in self.config.templates if t["name"] == name and t["language"] == code), None)
        if stored is None or stored["status"] in ("PENDING", "REJECTED", "DELETED", "PENDING_DELETION"):
            raise GraphError(
                404, 132001, "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) does not exist in {code}",
            )
        if stored["status"] == "PAUSED":
            raise GraphError(400, 132015, "(#132015) Template is Paused", details=f"Template {name} is paused due to low quality.")
        if stored["status"] == "DISABLED":
            raise GraphError(400, 132016, "(#132016) Template is disabled", details=f"Template {name} is disabled.")
        given = self._components_by_slot(components)
        self._check_parameters(stored, given)
        return {"template": {"name": name, "language": code, "category": stored["category"]}, "components": components}

    def _components_by_slot(self, components: list, where: str = "components") -> dict[str, dict]:
        slots: dict[str, dict] = {}
        for position, component in enumerate(components):
            path = f"{where}[{position}]"
            if not isinstance(component, dict):
                raise _invalid(f"{path} must be an object.")
            kind = str(component.get("type", "")).lower()
            if kind not in COMPONENT_TYPES:
                raise _invalid(f"{path}['type'] must be one of header, body, button, limited_time_offer, carousel; got {kind!r}.")
            if kind == "carousel":
                if not isinstance(component.get("cards"), list):
                    raise _missing(f"{path}['cards'] is required for a carousel.")
            else:
                self._check_parameter_values(component, path)
            slot = kind
            if kind == "button":
                sub_type = str(component.get("sub_type", "")).lower()
                if sub_type not in BUTTON_SUB_TYPES:
                    raise _invalid(f"{path}['sub_type'] is required for buttons (url, quick_reply...).")
                try:
                    button_index = int(component["index"])
                except (KeyError, TypeError, ValueError):
                    raise _invalid(f"{path}['index'] must be a button index 0-9.") from None
                slot = f"button:{button_index}:{sub_type}"
            if slot in slots:
                raise _invalid(f"Duplicate component {slot}.")
            slots[slot] = component
        return slots

    @staticmethod
    def _check_parameter_values(component: dict, path: str) -> None:
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            raise _invalid(f"{path}['parameters'] must be a list.")
        for index, parameter in enumerate(parameters):
            if not isinstance(parameter, dict) or parameter.get("type") not in PARAMETER_TYPES:
                raise _invalid(f"{path}['parameters'][{index}]['type'] is not a valid parameter type.")
            value_key = parameter["type"]
            if value_key not in parameter:
                raise _missing(f"{path}['parameters'][{index}]['{value_key}'] is required.")
            value = parameter[value_key]
            if value_key in ("text", "payload", "coupon_code") and (not isinstance(value, str) or not value.strip()):
                raise GraphError(
                    400, 131009, "(#131009) Parameter value is not valid",
                    details=f"{path}['parameters'][{index}]['{value_key}'] must be a non-empty string.",
                )
            if value_key in ("image", "video", "document") and (
                not isinstance(value, dict) or not (isinstance(value.get("link"), str) and value["link"].startswith("https://") or value.get("id"))
            ):
                raise GraphError(
                    400, 131009, "(#131009) Parameter value is not valid",
                    details=f"{path}['parameters'][{index}]['{value_key}'] needs a link (https://...) or a media id.",
                )

    def _check_parameters(self, stored: dict, given: dict[str, dict]) -> None:
        named = stored.get("parameter_format") == "NAMED"
        template_components = stored["components"]
        self._check_component_set(template_components, given, named=named, where="")
        offer = limited_time_offer(template_components)
        offer_given = given.get("limited_time_offer")
        if offer_given is not None and offer is None:
            raise _count_mismatch("limited_time_offer: the template is not a limited-time offer")
        if offer is not None and offer.get("has_expiration"):
            # The send carries the offer's expiry (Meta's limited-time offer page: "limited_time_offer" with
            # "expiration_time_ms", a UNIX time in milliseconds).
            parameters = (offer_given or {}).get("parameters", [])
            expiry = (parameters[0].get("limited_time_offer") or {}).get("expiration_time_ms") if len(parameters) == 1 else None
            if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry <= 0:
                raise _format_mismatch("limited_time_offer: expiration_time_ms (a UNIX time in milliseconds) is required")
        cards = carousel_cards(template_components)
        carousel = given.get("carousel")
        if carousel is None:
            if cards:
                raise _format_mismatch(f"carousel: the template has {len(cards)} cards; none were sent")
            return
        if not cards:
            raise _count_mismatch("carousel: the template has no carousel")
        sent_cards = carousel["cards"]
        if len(sent_cards) != len(cards):
            # An approved carousel is sent with exactly its number of cards (Kapso's carousel page notes Meta
            # answers 132012 when the count differs: docs.kapso.ai/docs/whatsapp/templates/carousel).
            raise _format_mismatch(f"carousel: the template has {len(cards)} cards, the message has {len(sent_cards)}")
        for position, card in enumerate(sent_cards):
            if not isinstance(card, dict) or card.get("card_index") != position or not isinstance(card.get("components"), list):
                raise _invalid(f"carousel.cards[{position}] needs card_index {position} and its components.")
            card_given = self._components_by_slot(card["components"], f"carousel.cards[{position}].components")
            self._check_component_set(cards[position], card_given, named=named, where=f"card {position}: ")

    def _check_component_set(self, template_components: list[dict], given: dict[str, dict], *, named: bool, where: str) -> None:
        """One message's (or one carousel card's) header, body and button parameters against the template's."""
        media = header_format(template_components)
        header_parameters = given.get("header", {}).get("parameters", [])
        if media in MEDIA_FORMATS:
            # Meta's answer to a media header sent without its media (or with another kind), as reported in
            # github.com/netflie/laravel-notification-whatsapp/issues/36 and chatwoot/chatwoot#15622.
            received = str(header_parameters[0].get("type", "")).upper() if len(header_parameters) == 1 else "UNKNOWN"
            if len(header_parameters) > 1:
                raise _count_mismatch(f"{where}header: a {media} header takes exactly one parameter")
            if received != media:
                raise _format_mismatch(f"{where}header: Format mismatch, expected {media}, received {received}")
        else:
            self._check_texts(f"{where}header", header_parameters, header_parameter_names(template_components), named=named)
        self._check_texts(f"{where}body", given.get("body", {}).get("parameters", []), body_parameter_names(template_components), named=named)
        template_buttons = buttons(template_components)
        url_button = dynamic_url_button(template_components)
        for slot, component in given.items():
            if not slot.startswith("button:"):
                continue
            _, index_text, sub_type = slot.split(":")
            index = int(index_text)
            kind = str(template_buttons[index].get("type", "")).lower() if index < len(template_buttons) else ""
            if sub_type == "url" and (url_button is None or url_button.index != index):
                raise _invalid(f"{where}The template has no URL button with a dynamic suffix at {slot}.")
            if sub_type != kind:
                raise _invalid(f"{where}buttons: the template's button {index} is {kind or 'missing'}, not {sub_type}.")
            parameters = component.get("parameters", [])
            expected_type = BUTTON_PARAMETER.get(sub_type)
            if len(parameters) != 1:
                raise _count_mismatch(f"{where}buttons: a {sub_type} button takes exactly one parameter")
            if expected_type and parameters[0].get("type") != expected_type:
                raise _format_mismatch(f"{where}buttons: a {sub_type} button takes a {expected_type} parameter")
        if url_button is not None and f"button:{url_button.index}:url" not in given:
            raise _missing(f"{where}buttons: Button at index {url_button.index} of type Url requires a parameter")
        for index, button in enumerate(template_buttons):
            if str(button.get("type", "")).upper() == "COPY_CODE" and f"button:{index}:copy_code" not in given:
                raise _missing(f"{where}buttons: Button at index {index} of type Copy_code requires a coupon_code parameter")

    @staticmethod
    def _check_texts(slot: str, parameters: list, expected: list[str], *, named: bool) -> None:
        if len(parameters) != len(expected):
            raise _count_mismatch(
                f"{slot}: number of localizable_params ({len(parameters)}) does not match the expected number of params ({len(expected)})"
            )
        if any(p.get("type") != "text" for p in parameters) and slot.endswith("header"):
            raise _format_mismatch(f"{slot}: a text header takes text parameters")
        if named and sorted(p.get("parameter_name", "") for p in parameters) != sorted(expected):
            raise _format_mismatch(f"{slot}: expected parameter_name values {expected}")

    def _record(self, send: dict, *, answered: str = "") -> dict:
        """Log an accepted send and schedule its statuses (and the person's reply, if a rule says so)."""
        person: Person = send["person"]
        wamid = self.new_wamid(person.wa_id or person.user_id)
        failure = next(
            (
                rule for rule in self.config.failure_rules
                if rule.get("at", "webhook") == "webhook" and rule_matches(rule, person.wa_id, person.user_id)
            ),
            None,
        )  # fmt: skip
        entry = {
            "seq": len(self.sends) + 1,
            "wamid": wamid,
            "to": send["to"],
            "wa_id": person.wa_id,
            "type": send["type"],
            "template": send.get("template"),
            "components": send.get("components"),
            "text": send.get("text"),
            "callback_data": send["callback_data"],
            "phone_number_id": send.get("phone_number_id") or self.config.phone_number_id,
            "accepted_at": time.time(),
            "outcome": f"failed:{failure['code']}" if failure else "accepted",
            "endpoint": send.get("endpoint", "messages"),  # the one that took it (after a fallback: messages)
        }
        if send.get("product_policy"):
            entry["product_policy"] = send["product_policy"]
        if send.get("fallback"):
            entry["fallback"] = True
        if person.user_id:
            entry.update({"recipient": send["recipient"], "user_id": person.user_id})
        if answered:
            entry["answered"] = answered  # the client saw this failure, yet Meta took the message
        self.sends.append(entry)
        self.sends_by_number[entry["phone_number_id"]] = self.sends_by_number.get(entry["phone_number_id"], 0) + 1
        self._schedule_statuses(entry, person, failure, sent_to_phone=send["to"] is not None)
        if send["type"] == "template":
            self._schedule_reply(entry, person)
        return entry

    def _accept(self, send: dict) -> web.Response:
        entry = self._record(send)
        person: Person = send["person"]
        contact: dict[str, Any] = {"input": send["to"] if send["to"] is not None else send["recipient"]}
        if send["to"] is not None or person.shows_phone:
            contact["wa_id"] = person.wa_id
        if person.user_id:
            contact["user_id"] = person.user_id
        answer: dict[str, Any] = {"id": entry["wamid"]}
        if send["type"] == "template":
            answer["message_status"] = "accepted"
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact], "messages": [answer]})

    # --- API: templates -----------------------------------------------------------------------

    async def message_templates(self, request: web.Request) -> web.Response:
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        try:
            self._check_call(request, self.config.waba_id)
            try:
                limit = int(request.query.get("limit", "25"))
                start = int(base64.urlsafe_b64decode(request.query["after"]).decode()) if "after" in request.query else 0
            except (ValueError, UnicodeDecodeError):
                raise _invalid("limit must be a number and after a cursor from an earlier page.") from None
            if not 1 <= limit <= 1000:
                raise _invalid("limit must be between 1 and 1000.")
        except GraphError as error:
            return error.response()
        templates = self.config.templates
        page = templates[start : start + limit]

        def cursor(position: int) -> str:
            return base64.urlsafe_b64encode(str(position).encode()).decode()

        paging: dict[str, Any] = {"cursors": {"before": cursor(start), "after": cursor(start + len(page))}}
        if start + len(page) < len(templates):
            paging["next"] = str(request.url.with_query({"limit": str(limit), "after": cursor(start + len(page))}))
        return web.json_response({"data": page, "paging": paging})

    async def message_template_create(self, request: web.Request) -> web.Response:
        """A new template, checked by Meta's rules (``template_rules``), stored PENDING until a notify reviews it."""
        received = await self._received(request)
        if received is None:
            return self._dropped_by_reset(request)
        raw_body, epoch = received
        try:
            self._check_call(request, self.config.waba_id)
            try:
                definition = json.loads(raw_body)
            except ValueError:
                raise _invalid("The request body is not valid JSON.") from None
            problems = definition_problems(definition)
            if problems:
                # Meta answers a template it refuses with code 100, a title and a message for people.
                raise GraphError(400, 100, "Invalid parameter", title="Template not valid", user_message=" ".join(problems))
            name, language = definition["name"], definition["language"]
            if any(t["name"] == name and t["language"] == language for t in self.config.templates):
                # Code 100 with subcode 2388024 is what integrators' code handles for a name that exists in the
                # language; Meta's error page gives no text for it, so the title and message are our choice.
                raise GraphError(
                    400, 100, "Invalid parameter", subcode=2388024, title="Message template already exists",
                    user_message=f"There is already {language} content for this template. You can create a new template and try again.",
                )  # fmt: skip
        except GraphError as error:
            return error.response()
        template_id = str(max(int(t["id"]) for t in self.config.templates) + 1 if self.config.templates else 900000000000001)
        category = str(definition["category"]).upper()
        stored = {
            "id": template_id, "name": name, "language": language, "status": "PENDING", "category": category,
            "parameter_format": str(definition.get("parameter_format") or "POSITIONAL").upper(),
            "components": definition["components"], "quality_score": {"score": "UNKNOWN"}, "rejected_reason": "NONE",
        }  # fmt: skip
        self.config = dataclasses.replace(self.config, templates=[*self.config.templates, stored])
        return web.json_response({"id": template_id, "status": "PENDING", "category": category})

    # --- sample files (Resumable Upload API) ---------------------------------------------------

    async def upload_session_open(self, request: web.Request) -> web.Response:
        """``POST /{app-id}/uploads?file_name&file_length&file_type``: ``{"id": "upload:<session>"}``."""
        try:
            self._check_call(request, self.config.app_id)
            query = request.query
            file_type = query.get("file_type", "")
            if file_type not in UPLOAD_FILE_TYPES:
                raise _invalid(f"(#100) Param file_type must be one of {{{', '.join(UPLOAD_FILE_TYPES)}}}")
            try:
                length = int(query.get("file_length", ""))
            except ValueError:
                raise _invalid("(#100) Param file_length must be an integer") from None
            if length <= 0 or not query.get("file_name"):
                raise _invalid("(#100) file_name and a positive file_length are required")
        except GraphError as error:
            return error.response()
        session_id = f"upload:{base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip('=')}"
        self.upload_sessions[session_id] = {"file_name": query["file_name"], "file_type": file_type, "file_length": length}
        return web.json_response({"id": session_id})

    async def upload_session_write(self, request: web.Request) -> web.Response:
        """``POST /upload:<session>`` with the bytes (``file_offset: 0``): ``{"h": "<handle>"}``."""
        raw_body = await request.read()
        try:
            self._check_token(request)
            self._check_version(request.match_info["version"])
            session = self.upload_sessions.get(request.match_info["session"])
            if session is None:
                raise self._unknown_object(request.match_info["session"])
            if request.headers.get("file_offset") != "0" or len(raw_body) != session["file_length"]:
                raise _invalid(f"(#100) The upload must start at file_offset 0 and carry the {session['file_length']} bytes announced")
        except GraphError as error:
            return error.response()
        if self.config.upload_fault == "bare_500":
            return web.Response(status=500)
        session["handle"] = f"4::{base64.b64encode(hashlib.sha256(raw_body).digest()[:18]).decode()}:sandbox"
        session["sha256"] = hashlib.sha256(raw_body).hexdigest()
        return web.json_response({"h": session["handle"]})

    async def uploads_view(self, request: web.Request) -> web.Response:
        return web.json_response({"uploads": [{"id": key, **value} for key, value in self.upload_sessions.items()]})

    # --- webhooks -----------------------------------------------------------------------------

    def _metadata(self, phone_number_id: str | None = None) -> dict:
        """A change's ``metadata``: the business number it concerns (the main one by default)."""
        number = self.number(phone_number_id) or self.number()
        assert number is not None
        return {"display_phone_number": number.get("display_phone_number", ""), "phone_number_id": number["phone_number_id"]}

    def _later(self, delay: float, field_name: str, value: dict) -> None:
        if not self.config.webhook_url:
            return
        self.webhooks_pending += 1
        loop = asyncio.get_running_loop()
        epoch = self.epoch
        handle: asyncio.TimerHandle

        def enqueue() -> None:
            self.timers.discard(handle)
            if epoch == self.epoch:
                self.queue.put_nowait((epoch, field_name, value))

        handle = loop.call_later(max(0.0, delay), enqueue)
        self.timers.add(handle)

    def _status_object(self, entry: dict, person: Person, status: str, *, sent_to_phone: bool, error_code: int | None = None) -> dict:
        status_obj: dict[str, Any] = {"id": entry["wamid"], "status": status, "timestamp": str(int(time.time()))}
        status_obj.update(person.recipient_fields(sent_to_phone=sent_to_phone))
        if entry["callback_data"]:
            status_obj["biz_opaque_callback_data"] = entry["callback_data"]
        category = (entry.get("template") or {}).get("category", "SERVICE").lower()
        if status in ("sent", "delivered"):
            config = self.config
            conversation_key = (person.wa_id or person.user_id).encode()
            status_obj["conversation"] = {"id": hashlib.md5(conversation_key).hexdigest(), "origin": {"type": category}}
            pricing: dict[str, Any] = {}
            if config.pricing_billable is not None:  # deprecated by Meta: present or omitted per switch
                pricing["billable"] = config.pricing_billable
            pricing.update({"pricing_model": config.pricing_model, "category": config.pricing_category or category, "type": config.pricing_type})
            status_obj["pricing"] = pricing
        if error_code is not None:
            status_obj["errors"] = [webhook_error(error_code, details=f"Sandbox failure rule for code {error_code}.")]
        return status_obj

    def _statuses_value(self, person: Person, statuses: list[dict], phone_number_id: str | None = None) -> dict:
        value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": self._metadata(phone_number_id)}
        if person.user_id and any(s["status"] != "failed" for s in statuses):
            # The username rides on delivered and read statuses, not on sent ones (Meta's BSUID page).
            with_username = any(s["status"] != "sent" for s in statuses)
            value["contacts"] = [person.contact(with_username=with_username)]
        value["statuses"] = statuses
        return value

    def _schedule_statuses(self, entry: dict, person: Person, failure: dict | None, *, sent_to_phone: bool) -> None:
        config = self.config
        if failure:
            failed = self._status_object(entry, person, "failed", sent_to_phone=sent_to_phone, error_code=int(failure["code"]))
            self._later(config.sent_delay, "messages", self._statuses_value(person, [failed], entry["phone_number_id"]))
            return
        if config.status_order is not None:
            order = list(config.status_order)
        else:
            order = ["sent"]
            if self.random.random() < config.delivered_rate:
                order.append("delivered")
                if self.random.random() < config.read_rate:
                    order.append("read")
        delays = [config.sent_delay + config.delivered_delay * min(i, 1) + config.read_delay * max(i - 1, 0) for i in range(len(order))]
        objects = [self._status_object(entry, person, status, sent_to_phone=sent_to_phone) for status in order]
        if config.statuses_in_one_envelope and objects:
            batches = [(delays[-1], objects)]
        else:
            batches = [(delay, [obj]) for delay, obj in zip(delays, objects, strict=True)]
        for delay, statuses in batches:
            for _ in range(config.status_copies):
                self._later(delay, "messages", self._statuses_value(person, statuses, entry["phone_number_id"]))

    def _schedule_reply(self, entry: dict, person: Person) -> None:
        rule = next((r for r in self.config.reply_rules if rule_matches(r, person.wa_id, person.user_id)), None)
        if rule is None or entry["outcome"] != "accepted":
            return
        message = self._inbound_message(person, rule, context_id=entry["wamid"], to=entry["phone_number_id"])
        delay = float(rule.get("delay", 0.3)) + self.config.sent_delay + self.config.delivered_delay
        self._later(delay, "messages", self._inbound_value(person, message, entry["phone_number_id"]))

    def _inbound_message(self, person: Person, spec: dict, *, context_id: str | None = None, to: str | None = None) -> dict:
        message: dict[str, Any] = {**person.sender_fields(), "id": self.new_wamid(person.wa_id or person.user_id),
                                   "timestamp": str(int(time.time()))}  # fmt: skip
        if "button" in spec:
            message["type"] = "button"
            message["button"] = {"payload": str(spec.get("payload", spec["button"])), "text": str(spec["button"])}
        else:
            message["type"] = "text"
            message["text"] = {"body": str(spec.get("text", ""))}
        if context_id:
            message["context"] = {"from": self._metadata(to)["display_phone_number"], "id": context_id}
        self.inbound_log.append({
            "key": person.wa_id or person.user_id, "id": message["id"], "type": message["type"], "at": time.time(),
            "text": message["button"]["text"] if message["type"] == "button" else message["text"]["body"],
        })  # fmt: skip
        return message

    def _inbound_value(self, person: Person, message: dict, phone_number_id: str | None = None) -> dict:
        return {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(phone_number_id),
            "contacts": [person.contact()],
            "messages": [message],
        }

    def _envelope(self, changes: list[tuple[str, dict]]) -> bytes:
        entry: dict[str, Any] = {"id": self.config.waba_id}
        if any(field_name not in ("messages", "user_preferences") for field_name, _ in changes):
            entry["time"] = int(time.time())  # account and template webhooks carry the trigger time
        entry["changes"] = [{"field": f, "value": v} for f, v in changes]
        return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()

    async def _deliver_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < max(1, self.config.webhook_batch_max) and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [item for item in batch if item[0] == self.epoch]
            if not batch:
                continue
            changes = [(field_name, value) for _, field_name, value in batch]
            delivery = Delivery(self.epoch, changes, self._envelope(changes))
            try:
                await self._attempt(delivery)
            except Exception:  # a delivery bug must not kill the worker
                logger.exception("webhook delivery failed")
                self._settle(delivery, None)

    async def _attempt(self, delivery: Delivery) -> None:
        """Post a delivery once; unless answered 200, redeliver it later with backoff, as Meta does."""
        if delivery.epoch != self.epoch:
            return  # reset since: its pending count is gone already
        config = self.config
        loop = asyncio.get_running_loop()
        if delivery.attempts:
            self.webhooks_redelivered += 1
        else:
            delivery.first_attempt_at = loop.time()
        delivery.attempts += 1
        http_status = await self._post_once(delivery.body)
        if http_status == 200:
            self._settle(delivery, 200)
            return
        delay = config.webhook_redelivery_base_delay * 2 ** (delivery.attempts - 1)
        redeliveries_left = config.webhook_retries < 0 or delivery.attempts <= config.webhook_retries
        inside_window = loop.time() + delay - delivery.first_attempt_at <= config.webhook_redelivery_window
        if not (redeliveries_left and inside_window and config.webhook_url):
            self._settle(delivery, http_status)
            return
        handle: asyncio.TimerHandle

        def redeliver() -> None:
            self.timers.discard(handle)
            if delivery.epoch == self.epoch:
                task = asyncio.create_task(self._attempt_safely(delivery))
                self.redeliveries.add(task)
                task.add_done_callback(self.redeliveries.discard)

        handle = loop.call_later(delay, redeliver)
        self.timers.add(handle)

    async def _attempt_safely(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except Exception:
            logger.exception("webhook redelivery failed")
            self._settle(delivery, None)

    async def _post_once(self, body: bytes) -> int | None:
        signature = hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        assert self.http is not None
        try:
            async with self.http.post(
                self.config.webhook_url, data=body, headers=headers, timeout=ClientTimeout(total=self.config.webhook_timeout)
            ) as response:
                await response.read()
                return response.status
        except (TimeoutError, OSError, ClientError) as exc:
            logger.warning("webhook to %s failed: %s", self.config.webhook_url, exc.__class__.__name__)
            return None

    def _settle(self, delivery: Delivery, http_status: int | None) -> None:
        if delivery.epoch != self.epoch:
            return
        count = len(delivery.changes)
        self.webhooks_pending = max(0, self.webhooks_pending - count)
        if http_status == 200:
            self.webhooks_delivered += count
        else:
            self.webhooks_failed += count
        for field_name, value in delivery.changes:
            self.webhook_log.append(
                {"field": field_name, "summary": _summary(field_name, value), "http_status": http_status, "attempts": delivery.attempts}
            )

    # --- control endpoints ----------------------------------------------------------------------

    async def sends_view(self, request: web.Request) -> web.Response:
        offset = int(request.query.get("offset", "0"))
        return web.json_response(
            {"count": len(self.sends), "sends": self.sends[offset:], "refused": self.refused, "by_number": self.sends_by_number}
        )

    async def webhooks_view(self, request: web.Request) -> web.Response:
        state: dict[str, Any] = {
            "pending": self.webhooks_pending,
            "delivered": self.webhooks_delivered,
            "failed": self.webhooks_failed,
            "redelivered": self.webhooks_redelivered,
        }
        if request.query.get("log") == "1":  # the log grows large in benchmarks: only on request
            state["log"] = self.webhook_log
        return web.json_response(state)

    async def config_view(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.read() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                self.configure_from(self.config.updated(changes))
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.config.public())

    async def reset_view(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def _person_from_spec(self, spec: dict) -> Person:
        if "user_id" in spec:
            user_id = str(spec["user_id"])
            if not BSUID_RE.match(user_id):
                raise ValueError(f"user_id {user_id!r} is not a business-scoped user id such as 'US.1234567890'")
            return self.person_for_user_id(user_id)
        return self.person_for_phone(digits(str(spec["from"])))

    async def inbound_view(self, request: web.Request) -> web.Response:
        try:
            spec = json.loads(await request.read())
            person = self._person_from_spec(spec)
            to = str(spec["to"]) if spec.get("to") is not None else None
            if to is not None and self.number(to) is None:
                raise ValueError(f"'to' {to!r} is not one of the sandbox's numbers")
        except (ValueError, KeyError, TypeError) as exc:
            detail = f" ({exc})" if isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError) else ""
            return web.json_response(
                {"error": f"expected {{'from': number | 'user_id': bsuid, 'text'|'button'|'user_preference': ..., 'to'?: phone number id}}{detail}"},
                status=400,
            )
        if not self.config.webhook_url:
            return web.json_response({"error": "no webhook_url configured"}, status=409)
        if "user_preference" in spec:
            preference: dict[str, Any] = {}
            if person.shows_phone:
                preference["wa_id"] = person.wa_id
            if person.user_id:
                preference["user_id"] = person.user_id
            preference.update({"detail": "User requested to stop marketing messages", "category": "marketing_messages",
                               "value": str(spec["user_preference"]), "timestamp": int(time.time())})  # fmt: skip
            value = {
                "messaging_product": "whatsapp",
                "metadata": self._metadata(to),  # Meta keeps the preference per business number
                "contacts": [person.contact()],
                "user_preferences": [preference],
            }
            self._later(0, "user_preferences", value)
            return web.json_response({"ok": True})
        message = self._inbound_message(person, spec, context_id=spec.get("context_id"), to=to)
        self._later(float(spec.get("delay", 0)), "messages", self._inbound_value(person, message, to))
        return web.json_response({"ok": True, "id": message["id"]})

    async def user_id_change_view(self, request: web.Request) -> web.Response:
        """The person's BSUID changes: a ``system`` message of type ``user_changed_user_id``."""
        try:
            spec = json.loads(await request.read())
            person = self._person_from_spec(spec)
            new_user_id = str(spec.get("new_user_id") or derived_user_id(f"{person.user_id}:next", person.user_id[:2] or "US"))
            if not person.user_id:
                raise ValueError("this person has no business-scoped user id: add their number to username_users first")
            if not BSUID_RE.match(new_user_id):
                raise ValueError(f"new_user_id {new_user_id!r} is not a business-scoped user id")
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"expected {{'from': number | 'user_id': bsuid, 'new_user_id'?}}: {exc}"}, status=400)
        if not self.config.webhook_url:
            return web.json_response({"error": "no webhook_url configured"}, status=409)
        system: dict[str, Any] = {
            "body": f"User {person.name} changed their business-scoped user id",
            "type": "user_changed_user_id",
            "user_id": new_user_id,
        }
        if "parent_user_id" in spec:
            system["parent_user_id"] = str(spec["parent_user_id"])
        message = {**person.sender_fields(), "id": self.new_wamid(person.wa_id or new_user_id),
                   "timestamp": str(int(time.time())), "type": "system", "system": system}  # fmt: skip
        # System messages carry no contacts array (Meta's system messages webhook reference).
        self._later(0, "messages", {"messaging_product": "whatsapp", "metadata": self._metadata(), "messages": [message]})
        changed = dataclasses.replace(person, user_id=new_user_id)
        self.people_by_user_id.pop(person.user_id, None)
        self.people_by_user_id[new_user_id] = changed
        if person.wa_id:
            self.changed_user_ids[person.wa_id] = new_user_id
        return web.json_response({"ok": True, "id": message["id"], "old_user_id": person.user_id, "new_user_id": new_user_id})

    async def notify_view(self, request: web.Request) -> web.Response:
        """Emit an account or template webhook (``business_events.py``) and apply it to the templates."""
        try:
            spec = json.loads(await request.read())
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object")
            field_name, value, template = business_events.build(
                spec, templates=self.config.templates, display_phone_number=self.config.display_phone_number, metadata=self._metadata()
            )
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not self.config.webhook_url:
            return web.json_response({"error": "no webhook_url configured"}, status=409)
        if template is not None:
            templates = [template if t["id"] == template["id"] else t for t in self.config.templates]
            self.config = dataclasses.replace(self.config, templates=templates)
        self._later(float(spec.get("delay", 0)), field_name, value)
        return web.json_response({"ok": True, "field": field_name, "value": value})

    async def health_view(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    # --- phones (HTML) --------------------------------------------------------------------------

    def _chat(self, key: str) -> list[phones.Bubble]:
        sends = [s for s in self.sends if (s["wa_id"] or s.get("user_id")) == key]
        inbound = [m for m in self.inbound_log if m["key"] == key]
        return phones.chat_bubbles(sends, inbound, self.config.templates)

    async def phones_view(self, request: web.Request) -> web.Response:
        latest: dict[str, tuple[float, int, str]] = {}  # key -> (last activity, messages, last text)
        items = [(s["wa_id"] or s.get("user_id", ""), s["accepted_at"], s.get("text") or (s.get("template") or {}).get("name", ""))
                 for s in self.sends] + [(m["key"], m["at"], m["text"]) for m in self.inbound_log]  # fmt: skip
        for key, at, text in items:
            if key:
                _, count, _ = latest.get(key, (0.0, 0, ""))
                latest[key] = (at, count + 1, str(text))
        ordered = sorted(latest.items(), key=lambda item: item[1][0], reverse=True)
        return _html(phones.phones_index_html([(key, count, text) for key, (_, count, text) in ordered]))

    async def phone_view(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        return _html(phones.phone_html(key, self._chat(key)))

    async def phone_reply_view(self, request: web.Request) -> web.Response:
        """A press or a message on a phone page: a signed ``messages`` webhook, then back to the chat."""
        key = request.match_info["key"]
        if _cross_site(request):
            return _html(phones.phone_html(key, self._chat(key), error="Refused: this form only works from the sandbox's own page."), 403)
        if key.isdigit() and 6 <= len(key) <= 15:
            person = self.person_for_phone(key)
        elif BSUID_RE.match(key):
            person = self.person_for_user_id(key)
        else:
            return _html(phones.phone_html(key, [], error="Not a phone number (digits only) or a business-scoped user id."), 404)
        try:
            spec = phones.reply_spec(await request.post())
        except ValueError as exc:
            return _html(phones.phone_html(key, self._chat(key), error=str(exc)), 400)
        if not self.config.webhook_url:
            error = "The sandbox has no webhook_url, so nothing can reach the app: start it with --webhook-url."
            return _html(phones.phone_html(key, self._chat(key), error=error), 409)
        # The chat is with the number that wrote to this phone last.
        to = next((s["phone_number_id"] for s in reversed(self.sends) if (s["wa_id"] or s.get("user_id")) == key), None)
        message = self._inbound_message(person, spec, context_id=spec.get("context_id"), to=to)
        self._later(0, "messages", self._inbound_value(person, message, to))
        raise web.HTTPSeeOther(phones.phone_path(key))


def _version_number(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")
    return int(major), int(minor)


def _html(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = phones.PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _cross_site(request: web.Request) -> bool:
    """A form posted from another site (a page could make a phone "press" buttons): refused."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] != request.host


def _summary(field_name: str, value: dict) -> dict:
    if value.get("statuses"):
        statuses = value["statuses"]
        summary = {"wamid": statuses[0]["id"], "status": statuses[0]["status"]}
        if len(statuses) > 1:
            summary["statuses"] = [s["status"] for s in statuses]
        return summary
    if value.get("messages"):
        message = value["messages"][0]
        return {"wamid": message["id"], "type": message["type"], "from": message.get("from") or message.get("from_user_id", "")}
    if value.get("errors"):
        return {"field": field_name, "errors": [e["code"] for e in value["errors"]]}
    if "event" in value:
        return {"field": field_name, "event": value["event"]}
    return {"field": field_name}


def build_app(config: SandboxConfig) -> web.Application:
    sandbox = Sandbox(config)
    app = web.Application(client_max_size=20 * 1024**2)  # sample files for template headers, up to a video's 16 MB
    app["sandbox"] = sandbox
    app.on_startup.append(sandbox.start)
    app.on_cleanup.append(sandbox.stop)
    app.router.add_post("/{version}/{object_id}/messages", sandbox.messages)
    app.router.add_post("/{version}/{object_id}/marketing_messages", sandbox.marketing_messages)
    app.router.add_get("/{version}/{object_id}/message_templates", sandbox.message_templates)
    app.router.add_post("/{version}/{object_id}/message_templates", sandbox.message_template_create)
    app.router.add_get("/_sandbox/sends", sandbox.sends_view)
    app.router.add_get("/_sandbox/webhooks", sandbox.webhooks_view)
    app.router.add_get("/_sandbox/config", sandbox.config_view)
    app.router.add_post("/_sandbox/config", sandbox.config_view)
    app.router.add_post("/_sandbox/reset", sandbox.reset_view)
    app.router.add_post("/_sandbox/inbound", sandbox.inbound_view)
    app.router.add_post("/_sandbox/user_id_change", sandbox.user_id_change_view)
    app.router.add_post("/_sandbox/notify", sandbox.notify_view)
    app.router.add_get("/_sandbox/health", sandbox.health_view)
    app.router.add_get("/_sandbox/uploads", sandbox.uploads_view)
    app.router.add_post("/{version}/{object_id}/uploads", sandbox.upload_session_open)
    app.router.add_post(r"/{version}/{session:upload:[^/]+}", sandbox.upload_session_write)
    app.router.add_get("/_sandbox/phones", sandbox.phones_view)
    app.router.add_get("/_sandbox/phones/{key}", sandbox.phone_view)
    app.router.add_post("/_sandbox/phones/{key}/reply", sandbox.phone_reply_view)
    return app


def run(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted."""
    print(f"WhatsApp sandbox listening on http://{host}:{port} (webhooks to {config.webhook_url or 'nowhere'})", flush=True)
    web.run_app(build_app(config), host=host, port=port, access_log=None, print=None)
