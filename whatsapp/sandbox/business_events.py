"""Account- and template-level webhooks the sandbox emits on demand (``POST /_sandbox/notify``).

Value shapes follow Meta's webhook references (developers.facebook.com/documentation/business-messaging/
whatsapp/webhooks/reference/<field>):
- ``message_template_status_update``: ``event``, ``message_template_id``, ``message_template_name``,
  ``message_template_language``, ``reason``, ``message_template_category``; ``disable_info`` when disabled,
  ``other_info`` when given;
- ``template_category_update``: ``previous_category`` -> ``new_category`` once changed, or for an impending
  change ``correct_category``, ``new_category`` (the current one) and ``category_update_timestamp``;
- ``message_template_quality_update``: ``previous_quality_score`` -> ``new_quality_score``;
- ``phone_number_quality_update``: ``display_phone_number``, ``event``,
  ``max_daily_conversations_per_business``; ``current_limit`` (removed by Meta in February 2026) and
  ``old_limit`` only when asked for;
- ``account_update``: ``phone_number``, ``event`` (e.g. ``MM_LITE_TERMS_SIGNED``) and any extra fields.
These values carry no ``metadata``: Meta sends them per WhatsApp Business Account (``entry.id``).
Out-of-band errors are a ``messages`` change whose value holds ``errors[]`` (Meta's error codes page).
"""

from __future__ import annotations

import time
from typing import Any

from whatsapp.sandbox.errors import webhook_error

TEMPLATE_EVENTS = {"APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION",
                   "DELETED", "LIMIT_EXCEEDED", "ARCHIVED", "UNARCHIVED", "REINSTATED", "FLAGGED"}  # fmt: skip
CATEGORIES = {"MARKETING", "UTILITY", "AUTHENTICATION"}
QUALITY_SCORES = {"GREEN", "YELLOW", "RED", "UNKNOWN"}
FIELDS = ("message_template_status_update", "template_category_update", "message_template_quality_update",
          "phone_number_quality_update", "account_update", "errors")  # fmt: skip


def _template(templates: list[dict], spec: dict) -> dict:
    name, language = spec.get("template"), spec.get("language", "en_US")
    found = next((t for t in templates if t["name"] == name and t["language"] == language), None)
    if found is None:
        raise ValueError(f"no sandbox template {name!r} in {language!r}")
    return found


def _template_ids(template: dict) -> dict[str, Any]:
    return {
        "message_template_id": int(template["id"]),
        "message_template_name": template["name"],
        "message_template_language": template["language"],
    }


def _choice(spec: dict, key: str, allowed: set[str], default: str | None = None) -> str:
    value = str(spec.get(key, default or "")).upper()
    if value not in allowed:
        raise ValueError(f"{key}: expected one of {', '.join(sorted(allowed))}")
    return value


def build(spec: dict, *, templates: list[dict], display_phone_number: str, metadata: dict) -> tuple[str, dict, dict | None]:
    """(webhook field, change value, template change to apply or None) for one notify request."""
    kind = spec.get("field")
    if kind == "message_template_status_update":
        template = _template(templates, spec)
        event = _choice(spec, "event", TEMPLATE_EVENTS)
        value = {**_template_ids(template), "event": event, "reason": str(spec.get("reason", "NONE")),
                 "message_template_category": template["category"]}  # fmt: skip
        if event == "DISABLED":
            value["disable_info"] = {"disable_date": str(int(time.time()))}
        if "other_info" in spec:
            value["other_info"] = spec["other_info"]
        status = event if event in ("APPROVED", "REJECTED", "PAUSED", "DISABLED", "PENDING") else None
        return kind, value, ({**template, "status": status} if status else None)
    if kind == "template_category_update":
        template = _template(templates, spec)
        new = _choice(spec, "new_category", CATEGORIES)
        if spec.get("impending"):
            correct = _choice(spec, "correct_category", CATEGORIES, new)
            value = {**_template_ids(template), "correct_category": correct, "new_category": template["category"],
                     "category_update_timestamp": int(spec.get("category_update_timestamp", time.time() + 86400))}  # fmt: skip
            return kind, value, None
        previous = _choice(spec, "previous_category", CATEGORIES, template["category"])
        value = {**_template_ids(template), "previous_category": previous, "new_category": new}
        return kind, value, {**template, "category": new}
    if kind == "message_template_quality_update":
        template = _template(templates, spec)
        previous = _choice(spec, "previous_quality_score", QUALITY_SCORES, template["quality_score"]["score"])
        new = _choice(spec, "new_quality_score", QUALITY_SCORES)
        value = {**_template_ids(template), "previous_quality_score": previous, "new_quality_score": new}
        return kind, value, {**template, "quality_score": {"score": new}}
    if kind == "phone_number_quality_update":
        value = {"display_phone_number": display_phone_number, "event": str(spec.get("event", "UPGRADE")),
                 "max_daily_conversations_per_business": str(spec.get("max_daily_conversations_per_business", "TIER_2K"))}  # fmt: skip
        for legacy in ("old_limit", "current_limit"):
            if legacy in spec:
                value[legacy] = str(spec[legacy])
        return kind, value, None
    if kind == "account_update":
        extra = {k: v for k, v in spec.items() if k not in ("field", "event")}
        return kind, {"phone_number": display_phone_number, "event": str(spec.get("event", "MM_LITE_TERMS_SIGNED")), **extra}, None
    if kind == "errors":
        codes = spec.get("codes", [spec.get("code", 131000)])
        if not isinstance(codes, list) or not all(isinstance(c, int) for c in codes):
            raise ValueError("code/codes: expected an error code or a list of them")
        value = {"messaging_product": "whatsapp", "metadata": metadata,
                 "errors": [webhook_error(code, details=str(spec.get("details", ""))) for code in codes]}  # fmt: skip
        return "messages", value, None
    raise ValueError(f"field: expected one of {', '.join(FIELDS)}")
