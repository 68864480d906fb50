"""The sandbox: a fake WhatsApp Cloud API server for development, tests and benchmarks.

It answers our endpoints the way Meta does (shapes and error codes of the shared Cloud API notes)
and delivers signed webhooks back to the app. It runs without Django.

API (``/{version}/...``, bearer token required):
- ``POST /{version}/{phone_number_id}/messages``: template or text message.
- ``GET /{version}/{waba_id}/message_templates?limit=&after=``: the template list, paged.

Control (``/_sandbox/...``, no token):
- ``GET /_sandbox/sends``: every accepted send, in order (``?offset=N`` for the rest).
- ``GET /_sandbox/webhooks``: webhook delivery counters (``?log=1`` adds the log of posted events).
- ``GET|POST /_sandbox/config``: read or change behaviour (partial JSON object).
- ``POST /_sandbox/reset``: forget sends and webhooks, restore the start-up configuration.
- ``POST /_sandbox/inbound``: make a person write to us (``{"from", "text"}``, ``{"from", "button"}``
  or ``{"from", "user_preference": "stop"|"resume"}``).
- ``GET /_sandbox/health``.

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
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from whatsapp.sandbox.catalog import default_templates
from whatsapp.template_shape import body_parameter_names, dynamic_url_button, header_parameter_names

logger = logging.getLogger("whatsapp.sandbox")

VERSION_RE = re.compile(r"^v\d+\.\d+$")
MAX_TEXT_BODY = 4096
PARAMETER_TYPES = {"text", "currency", "date_time", "image", "document", "video", "payload", "location", "coupon_code", "action"}
COMPONENT_TYPES = {"header", "body", "button"}
BUTTON_SUB_TYPES = {"url", "quick_reply", "copy_code", "flow", "catalog"}


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
    display_phone_number: str = "15550001111"
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
    webhook_concurrency: int = 32
    webhook_batch_max: int = 1  # >1 merges queued events into one multi-change envelope
    webhook_retries: int = 3
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
        return SandboxConfig(**values)

    def public(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["templates"] = [f"{t['name']}/{t['language']} {t['status']}" for t in self.templates]
        return data


class GraphError(Exception):
    """An error answered in Meta's shape."""

    def __init__(self, http_status: int, code: int, message: str, *, details: str = "", subcode: int | None = None, title: str = ""):
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message
        self.details, self.subcode, self.title = details, subcode, title

    def response(self) -> web.Response:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.title:
            error["error_user_title"] = self.title
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
        return web.json_response({"error": error}, status=self.http_status)


def _invalid(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details)


def _missing(details: str) -> GraphError:
    return GraphError(400, 131008, "(#131008) Required parameter is missing", details=details)


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _rule_matches(rule: dict, wa_id: str) -> bool:
    if "number" in rule and _digits(str(rule["number"])) == wa_id:
        return True
    return "suffix" in rule and wa_id.endswith(str(rule["suffix"]))


FAILURE_TITLES = {
    131026: "Message undeliverable",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "User has stopped receiving marketing messages",
    131047: "Re-engagement message",
}


class Sandbox:
    """State of one sandbox process: configuration, send log, webhook dispatcher."""

    def __init__(self, config: SandboxConfig):
        self.initial_config = config
        self.config = config
        self.random = random.Random(config.seed)
        self.sends: list[dict] = []
        self.wamid_counter = itertools.count(1)
        self.epoch = 0
        self.timers: set[asyncio.TimerHandle] = set()
        self.queue: asyncio.Queue[tuple[int, str, dict]] = asyncio.Queue()
        self.webhook_log: list[dict] = []
        self.webhooks_pending = 0
        self.webhooks_delivered = 0
        self.webhooks_failed = 0
        self.refused: dict[str, int] = {}
        self.http: ClientSession | None = None
        self.workers: list[asyncio.Task] = []

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        connector = TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
        self.http = ClientSession(connector=connector)
        self._start_workers()

    async def stop(self, app: web.Application) -> None:
        for worker in self.workers:
            worker.cancel()
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
        self.webhook_log.clear()
        self.webhooks_pending = self.webhooks_delivered = self.webhooks_failed = 0
        self.refused.clear()
        self.configure_from(self.initial_config)

    def configure_from(self, config: SandboxConfig) -> None:
        concurrency_changed = config.webhook_concurrency != self.config.webhook_concurrency
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
        token = header[7:] if header.startswith("Bearer ") else request.query.get("access_token", "")
        if not token:
            raise GraphError(401, 190, "An access token is required to request this resource.")
        if not hmac.compare_digest(token, self.config.access_token):
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")

    def _check_version(self, version: str) -> None:
        if not VERSION_RE.match(version):
            raise GraphError(400, 2500, f"Unknown path components: /{version}")

    def _unknown_object(self, object_id: str) -> GraphError:
        return GraphError(
            400, 100,
            f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            subcode=33,
        )

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    # --- API: messages ------------------------------------------------------------------------

    async def messages(self, request: web.Request) -> web.Response:
        # Read first, then take the latency: a request sent in full is received, like at a remote
        # server, even if its client dies before the answer (the client then cannot know).
        raw_body = await request.read()
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        try:
            self._check_token(request)
            self._check_version(request.match_info["version"])
            if request.match_info["object_id"] != self.config.phone_number_id:
                raise self._unknown_object(request.match_info["object_id"])
            try:
                body = json.loads(raw_body)
            except ValueError:
                raise _invalid("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise _invalid("The request body must be a JSON object.")
            send = self._validate_send(body)
            refusal = next(
                (r for r in self.config.failure_rules if r.get("at") == "send" and _rule_matches(r, send["wa_id"])), None
            )
            if refusal is not None:
                code = int(refusal["code"])
                title = FAILURE_TITLES.get(code, "Message failed to send")
                raise GraphError(int(refusal.get("http_status", 400)), code, f"(#{code}) {title}", details=f"Sandbox failure rule for code {code}.")
            if self.config.server_error_rate and self.random.random() < self.config.server_error_rate:
                raise GraphError(500, 131000, "(#131000) Something went wrong", details="Simulated outage.")
            if self.config.throttle_rate and self.random.random() < self.config.throttle_rate:
                raise GraphError(
                    429, 130429, "(#130429) Rate limit hit",
                    details="Cloud API message throughput has been reached.",
                )
        except GraphError as error:
            self._refuse(str(error.code))
            return error.response()
        return self._accept(send)

    def _validate_send(self, body: dict) -> dict:
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(400, 100, "(#100) The parameter messaging_product is required.")
        recipient_type = body.get("recipient_type", "individual")
        if recipient_type != "individual":
            raise _invalid("recipient_type must be 'individual'.")
        to = body.get("to")
        if not isinstance(to, str) or not to.strip():
            raise GraphError(400, 100, "(#100) The parameter to is required.")
        if not re.fullmatch(r"\+?\d{6,15}", to.strip()):
            raise _invalid(f"The parameter to ('{to}') is not a valid phone number.")
        callback = body.get("biz_opaque_callback_data")
        if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
            raise _invalid("biz_opaque_callback_data must be a string of at most 512 characters.")
        kind = body.get("type", "text")
        send: dict[str, Any] = {"to": to, "wa_id": _digits(to), "type": kind, "callback_data": callback}
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

    def _components_by_slot(self, components: list) -> dict[str, dict]:
        slots: dict[str, dict] = {}
        for position, component in enumerate(components):
            if not isinstance(component, dict):
                raise _invalid(f"components[{position}] must be an object.")
            kind = str(component.get("type", "")).lower()
            if kind not in COMPONENT_TYPES:
                raise _invalid(f"components[{position}]['type'] must be one of header, body, button; got {kind!r}.")
            parameters = component.get("parameters", [])
            if not isinstance(parameters, list):
                raise _invalid(f"components[{position}]['parameters'] must be a list.")
            for index, parameter in enumerate(parameters):
                if not isinstance(parameter, dict) or parameter.get("type") not in PARAMETER_TYPES:
                    raise _invalid(f"components[{position}]['parameters'][{index}]['type'] is not a valid parameter type.")
                value_key = parameter["type"]
                if value_key not in parameter:
                    raise _missing(f"components[{position}]['parameters'][{index}]['{value_key}'] is required.")
                if value_key == "text" and (not isinstance(parameter["text"], str) or not parameter["text"].strip()):
                    raise GraphError(
                        400, 131009, "(#131009) Parameter value is not valid",
                        details=f"components[{position}]['parameters'][{index}]['text'] must be a non-empty string.",
                    )
            slot = kind
            if kind == "button":
                sub_type = str(component.get("sub_type", "")).lower()
                if sub_type not in BUTTON_SUB_TYPES:
                    raise _invalid(f"components[{position}]['sub_type'] is required for buttons (url, quick_reply...).")
                try:
                    button_index = int(component["index"])
                except (KeyError, TypeError, ValueError):
                    raise _invalid(f"components[{position}]['index'] must be a button index 0-9.") from None
                slot = f"button:{button_index}:{sub_type}"
            if slot in slots:
                raise _invalid(f"Duplicate component {slot}.")
            slots[slot] = component
        return slots

    def _check_parameters(self, stored: dict, given: dict[str, dict]) -> None:
        template_components = stored["components"]
        named = stored.get("parameter_format") == "NAMED"
        for slot, expected in (("header", header_parameter_names(template_components)), ("body", body_parameter_names(template_components))):
            parameters = given.get(slot, {}).get("parameters", [])
            if len(parameters) != len(expected):
                raise GraphError(
                    400, 132000, "(#132000) Number of parameters does not match the expected number of params",
                    details=f"{slot}: number of localizable_params ({len(parameters)}) does not match the expected number of params ({len(expected)})",
                )
            if named and sorted(p.get("parameter_name", "") for p in parameters) != sorted(expected):
                raise GraphError(
                    400, 132012, "(#132012) Parameter format does not match format in the created template",
                    details=f"{slot}: expected parameter_name values {expected}",
                )
        url_button = dynamic_url_button(template_components)
        for slot, component in given.items():
            if slot.startswith("button:") and slot.endswith(":url"):
                if url_button is None or slot != f"button:{url_button.index}:url":
                    raise _invalid(f"The template has no URL button with a dynamic suffix at {slot}.")
                if len(component.get("parameters", [])) != 1:
                    raise GraphError(
                        400, 132000, "(#132000) Number of parameters does not match the expected number of params",
                        details="buttons: a URL button takes exactly one text parameter",
                    )
        if url_button is not None and f"button:{url_button.index}:url" not in given:
            raise _missing(f"buttons: Button at index {url_button.index} of type Url requires a parameter")

    def _accept(self, send: dict) -> web.Response:
        wa_id = send["wa_id"]
        wamid = self.new_wamid(wa_id)
        failure = next(
            (rule for rule in self.config.failure_rules if rule.get("at", "webhook") == "webhook" and _rule_matches(rule, wa_id)),
            None,
        )
        entry = {
            "seq": len(self.sends) + 1,
            "wamid": wamid,
            "to": send["to"],
            "wa_id": wa_id,
            "type": send["type"],
            "template": send.get("template"),
            "components": send.get("components"),
            "text": send.get("text"),
            "callback_data": send["callback_data"],
            "accepted_at": time.time(),
            "outcome": f"failed:{failure['code']}" if failure else "accepted",
        }
        self.sends.append(entry)
        self._schedule_statuses(entry, failure)
        if send["type"] == "template":
            self._schedule_reply(entry)
        answer: dict[str, Any] = {"id": wamid}
        if send["type"] == "template":
            answer["message_status"] = "accepted"
        return web.json_response(
            {"messaging_product": "whatsapp", "contacts": [{"input": send["to"], "wa_id": wa_id}], "messages": [answer]}
        )

    # --- API: templates -----------------------------------------------------------------------

    async def message_templates(self, request: web.Request) -> web.Response:
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        try:
            self._check_token(request)
            self._check_version(request.match_info["version"])
            if request.match_info["object_id"] != self.config.waba_id:
                raise self._unknown_object(request.match_info["object_id"])
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

    # --- webhooks -----------------------------------------------------------------------------

    def _metadata(self) -> dict:
        return {"display_phone_number": self.config.display_phone_number, "phone_number_id": self.config.phone_number_id}

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

    def _status_value(self, entry: dict, status: str, *, error_code: int | None = None) -> dict:
        status_obj: dict[str, Any] = {
            "id": entry["wamid"],
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": entry["wa_id"],
        }
        if entry["callback_data"]:
            status_obj["biz_opaque_callback_data"] = entry["callback_data"]
        category = (entry.get("template") or {}).get("category", "SERVICE").lower()
        if status in ("sent", "delivered"):
            status_obj["conversation"] = {"id": hashlib.md5(entry["wa_id"].encode()).hexdigest(), "origin": {"type": category}}
            status_obj["pricing"] = {"billable": True, "pricing_model": "PMP", "category": category}
        if error_code is not None:
            title = FAILURE_TITLES.get(error_code, "Message failed to send")
            status_obj["errors"] = [
                {"code": error_code, "title": title, "message": title, "error_data": {"details": f"Sandbox failure rule for code {error_code}."}}
            ]
        return {"messaging_product": "whatsapp", "metadata": self._metadata(), "statuses": [status_obj]}

    def _schedule_statuses(self, entry: dict, failure: dict | None) -> None:
        config = self.config
        if failure:
            self._later(config.sent_delay, "messages", self._status_value(entry, "failed", error_code=int(failure["code"])))
            return
        self._later(config.sent_delay, "messages", self._status_value(entry, "sent"))
        if self.random.random() >= config.delivered_rate:
            return
        self._later(config.sent_delay + config.delivered_delay, "messages", self._status_value(entry, "delivered"))
        if self.random.random() < config.read_rate:
            self._later(config.sent_delay + config.delivered_delay + config.read_delay, "messages", self._status_value(entry, "read"))

    def _schedule_reply(self, entry: dict) -> None:
        rule = next((r for r in self.config.reply_rules if _rule_matches(r, entry["wa_id"])), None)
        if rule is None or entry["outcome"] != "accepted":
            return
        message = self._inbound_message(entry["wa_id"], rule, context_id=entry["wamid"])
        delay = float(rule.get("delay", 0.3)) + self.config.sent_delay + self.config.delivered_delay
        self._later(delay, "messages", self._inbound_value(entry["wa_id"], message))

    def _inbound_message(self, wa_id: str, spec: dict, *, context_id: str | None = None) -> dict:
        message: dict[str, Any] = {"from": wa_id, "id": self.new_wamid(wa_id), "timestamp": str(int(time.time()))}
        if "button" in spec:
            message["type"] = "button"
            message["button"] = {"payload": str(spec.get("payload", spec["button"])), "text": str(spec["button"])}
        else:
            message["type"] = "text"
            message["text"] = {"body": str(spec.get("text", ""))}
        if context_id:
            message["context"] = {"from": self.config.display_phone_number, "id": context_id}
        return message

    def _inbound_value(self, wa_id: str, message: dict) -> dict:
        return {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(),
            "contacts": [{"profile": {"name": "Sandbox user"}, "wa_id": wa_id}],
            "messages": [message],
        }

    async def _deliver_forever(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < max(1, self.config.webhook_batch_max) and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [item for item in batch if item[0] == self.epoch]
            if not batch:
                continue
            try:
                await self._post(batch)
            except Exception:  # a delivery bug must not kill the worker
                logger.exception("webhook delivery failed")
            finally:
                self.webhooks_pending = max(0, self.webhooks_pending - len(batch))

    async def _post(self, batch: list[tuple[int, str, dict]]) -> None:
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.config.waba_id, "changes": [{"field": f, "value": v} for _, f, v in batch]}],
        }
        body = json.dumps(envelope).encode()
        signature = hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        http_status: int | None = None
        assert self.http is not None
        for attempt in range(self.config.webhook_retries + 1):
            try:
                async with self.http.post(
                    self.config.webhook_url, data=body, headers=headers, timeout=ClientTimeout(total=self.config.webhook_timeout)
                ) as response:
                    http_status = response.status
                    await response.read()
                if http_status == 200:
                    break
            except (TimeoutError, OSError) as exc:
                http_status = None
                logger.warning("webhook to %s failed: %s", self.config.webhook_url, exc.__class__.__name__)
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        ok = http_status == 200
        if ok:
            self.webhooks_delivered += len(batch)
        else:
            self.webhooks_failed += len(batch)
        for _, field_name, value in batch:
            self.webhook_log.append({"field": field_name, "summary": _summary(field_name, value), "http_status": http_status})

    # --- control endpoints ----------------------------------------------------------------------

    async def sends_view(self, request: web.Request) -> web.Response:
        offset = int(request.query.get("offset", "0"))
        return web.json_response({"count": len(self.sends), "sends": self.sends[offset:], "refused": self.refused})

    async def webhooks_view(self, request: web.Request) -> web.Response:
        state: dict[str, Any] = {
            "pending": self.webhooks_pending,
            "delivered": self.webhooks_delivered,
            "failed": self.webhooks_failed,
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

    async def inbound_view(self, request: web.Request) -> web.Response:
        try:
            spec = json.loads(await request.read())
            wa_id = _digits(str(spec["from"]))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected {'from': number, 'text'|'button'|'user_preference': ...}"}, status=400)
        if not self.config.webhook_url:
            return web.json_response({"error": "no webhook_url configured"}, status=409)
        if "user_preference" in spec:
            value = {
                "messaging_product": "whatsapp",
                "metadata": self._metadata(),
                "contacts": [{"profile": {"name": "Sandbox user"}, "wa_id": wa_id}],
                "user_preferences": [
                    {"wa_id": wa_id, "detail": "User requested to stop marketing messages", "category": "marketing_messages",
                     "value": str(spec["user_preference"]), "timestamp": int(time.time())}
                ],
            }
            self._later(0, "user_preferences", value)
            return web.json_response({"ok": True})
        message = self._inbound_message(wa_id, spec, context_id=spec.get("context_id"))
        self._later(float(spec.get("delay", 0)), "messages", self._inbound_value(wa_id, message))
        return web.json_response({"ok": True, "id": message["id"]})

    async def health_view(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def _summary(field_name: str, value: dict) -> dict:
    if value.get("statuses"):
        status = value["statuses"][0]
        return {"wamid": status["id"], "status": status["status"]}
    if value.get("messages"):
        message = value["messages"][0]
        return {"wamid": message["id"], "type": message["type"], "from": message["from"]}
    return {"field": field_name}


def build_app(config: SandboxConfig) -> web.Application:
    sandbox = Sandbox(config)
    app = web.Application(client_max_size=1024**2)
    app["sandbox"] = sandbox
    app.on_startup.append(sandbox.start)
    app.on_cleanup.append(sandbox.stop)
    app.router.add_post("/{version}/{object_id}/messages", sandbox.messages)
    app.router.add_get("/{version}/{object_id}/message_templates", sandbox.message_templates)
    app.router.add_get("/_sandbox/sends", sandbox.sends_view)
    app.router.add_get("/_sandbox/webhooks", sandbox.webhooks_view)
    app.router.add_get("/_sandbox/config", sandbox.config_view)
    app.router.add_post("/_sandbox/config", sandbox.config_view)
    app.router.add_post("/_sandbox/reset", sandbox.reset_view)
    app.router.add_post("/_sandbox/inbound", sandbox.inbound_view)
    app.router.add_get("/_sandbox/health", sandbox.health_view)
    return app


def run(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted."""
    print(f"WhatsApp sandbox listening on http://{host}:{port} (webhooks to {config.webhook_url or 'nowhere'})", flush=True)
    web.run_app(build_app(config), host=host, port=port, access_log=None, print=None)
