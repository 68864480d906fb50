"""Reading Meta's webhook deliveries: the signature, the envelope and the items inside it.

Pure functions without database access; whatsapp.services decides what each item does. Items of
changes for a phone number or business account that is not ours (whatsapp.numbers) are never
yielded as items: they are only counted (``envelope_foreign``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from whatsapp import numbers

ENVELOPE_OBJECT = "whatsapp_business_account"


class InvalidEnvelope(ValueError):
    """A signed body that is not a WhatsApp webhook envelope; the message says what is wrong."""


def signature_valid(*, body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is ``sha256=<HMAC-SHA256(secret, body)>``; compared in constant time."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def handshake_challenge(*, params: dict[str, str], verify_token: str) -> str | None:
    """The challenge to echo for a valid subscription handshake, else None."""
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") != "subscribe" or not verify_token or not hmac.compare_digest(token, verify_token):
        return None
    return params.get("hub.challenge", "")


def envelope_parse(body: bytes) -> dict[str, Any]:
    """The decoded envelope, checked down to each change's ``field`` and ``value``."""
    # Meta's envelopes nest about 8 levels (entry, changes, value, messages, interactive, ...).
    max_depth = 32
    too_deep = f"The body is nested more than {max_depth} levels deep."
    try:
        envelope = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise InvalidEnvelope("The body is not JSON.") from None
    except RecursionError:  # the decoder's own limit, about 1,000 levels
        raise InvalidEnvelope(too_deep) from None
    stack: list[tuple[Any, int]] = [(envelope, 1)]  # iterative: a hostile body cannot exhaust the stack
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidEnvelope(too_deep)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    if not isinstance(envelope, dict):
        raise InvalidEnvelope("The body must be a JSON object.")
    if envelope.get("object") != ENVELOPE_OBJECT:
        raise InvalidEnvelope(f"'object' must be '{ENVELOPE_OBJECT}'.")
    entries = envelope.get("entry")
    if not isinstance(entries, list):
        raise InvalidEnvelope("'entry' must be a list.")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            raise InvalidEnvelope(f"entry[{i}] must be an object with a 'changes' list.")
        for j, change in enumerate(entry["changes"]):
            if not isinstance(change, dict) or not isinstance(change.get("field"), str) or not isinstance(change.get("value"), dict):
                raise InvalidEnvelope(f"entry[{i}].changes[{j}] must have a 'field' string and a 'value' object.")
    return envelope


def unix_time(value: Any, *, default: datetime | None = None) -> datetime:
    """Meta's Unix-seconds timestamp (a string or a number) as an aware datetime."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default or datetime.now(tz=UTC)


def _dict_list(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = value.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


@dataclass(frozen=True)
class StatusItem:
    wamid: str
    status: str
    at: datetime
    recipient_id: str
    callback_data: str
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class InboundItem:
    wamid: str
    from_wa_id: str
    type: str
    text: str
    payload: str
    context_wamid: str
    sent_at: datetime
    profile_name: str


@dataclass(frozen=True)
class PreferenceItem:
    wa_id: str
    category: str
    value: str
    at: datetime
    raw_timestamp: str


def statuses(value: dict[str, Any]) -> Iterator[StatusItem]:
    for status in _dict_list(value, "statuses"):
        if not status.get("id") or not status.get("status"):
            continue
        yield StatusItem(
            wamid=str(status["id"]),
            status=str(status["status"]),
            at=unix_time(status.get("timestamp")),
            recipient_id=str(status.get("recipient_id") or ""),
            callback_data=str(status.get("biz_opaque_callback_data") or ""),
            errors=_dict_list(status, "errors"),
        )


def _message_text_and_payload(message: dict[str, Any]) -> tuple[str, str]:
    kind = message.get("type")
    content = message.get(kind) if isinstance(kind, str) and isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return str(content.get("body") or ""), ""
    if kind == "button":
        return str(content.get("text") or ""), str(content.get("payload") or "")
    if kind == "interactive":
        reply = content.get(content.get("type")) if isinstance(content.get("type"), str) else None
        reply = reply if isinstance(reply, dict) else {}
        return str(reply.get("title") or ""), str(reply.get("id") or "")
    if kind == "reaction":
        return str(content.get("emoji") or ""), ""
    return str(content.get("caption") or ""), ""


def inbound_messages(value: dict[str, Any]) -> Iterator[InboundItem]:
    names = {
        str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
        for c in _dict_list(value, "contacts")
        if isinstance(c.get("profile"), dict | None)
    }
    for message in _dict_list(value, "messages"):
        if not message.get("id") or not message.get("from"):
            continue
        text, payload = _message_text_and_payload(message)
        context = message.get("context") if isinstance(message.get("context"), dict) else {}
        yield InboundItem(
            wamid=str(message["id"]),
            from_wa_id=str(message["from"]),
            type=str(message.get("type") or "unknown")[:20],
            text=text,
            payload=payload[:1000],
            context_wamid=str(context.get("id") or ""),
            sent_at=unix_time(message.get("timestamp")),
            profile_name=names.get(str(message["from"]), ""),
        )


def preferences(value: dict[str, Any]) -> Iterator[PreferenceItem]:
    """``user_preferences`` items; field names are not pinned down by Meta's docs, so read loosely."""
    fallback_wa_id = next((str(c.get("wa_id")) for c in _dict_list(value, "contacts") if c.get("wa_id")), "")
    for item in _dict_list(value, "user_preferences"):
        wa_id = str(item.get("wa_id") or item.get("recipient_id") or fallback_wa_id)
        if not wa_id:
            continue
        yield PreferenceItem(
            wa_id=wa_id,
            category=str(item.get("category") or "marketing_messages"),
            value=str(item.get("value") or "").lower(),
            at=unix_time(item.get("timestamp")),
            raw_timestamp=str(item.get("timestamp") or ""),
        )


@dataclass(frozen=True)
class ChangeItem:
    """A change other than messages and preferences (template, quality or account updates), as sent."""

    field: str
    value: dict[str, Any]


class ItemKind:
    """The kinds of webhook items, each acted on by the handler an app registered for it."""

    STATUS = "status"
    INBOUND = "inbound"
    PREFERENCE = "preference"
    CHANGE = "change"

    ALL = (STATUS, INBOUND, PREFERENCE, CHANGE)


WebhookItem = StatusItem | InboundItem | PreferenceItem | ChangeItem


def _change_items(field: str, value: dict[str, Any]) -> Iterator[tuple[str, WebhookItem]]:
    if field == "messages":
        for status in statuses(value):
            yield ItemKind.STATUS, status
        for message in inbound_messages(value):
            yield ItemKind.INBOUND, message
    elif field == "user_preferences":
        for preference in preferences(value):
            yield ItemKind.PREFERENCE, preference
    else:
        yield ItemKind.CHANGE, ChangeItem(field=field, value=value)


@dataclass(frozen=True)
class ForeignChange:
    """A change for a phone number or business account that is not ours: stored, counted, ignored."""

    field: str
    owner: str  # "phone_number_id <id>" or "account <id>"
    items: int


def _change_owner(entry: dict[str, Any], value: dict[str, Any]) -> tuple[str, bool]:
    """Who a change concerns, and whether that is us.

    Messages, statuses and preferences name the business number in ``value.metadata.phone_number_id``;
    account and template changes only the WhatsApp Business Account, as the entry's ``id``
    (Meta's webhook reference: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/button/;
    pywa drops updates for other numbers the same way: https://github.com/david-lev/pywa/releases/tag/1.12.1).
    """
    metadata = value.get("metadata")
    if isinstance(metadata, dict) and metadata.get("phone_number_id") is not None:
        phone_number_id = str(metadata["phone_number_id"])
        return f"phone_number_id {phone_number_id}", numbers.is_our_phone_number_id(phone_number_id)
    account_id = str(entry.get("id") or "")
    return f"account {account_id or '(none)'}", numbers.is_our_business_account_id(account_id)


def _entry_changes(envelope: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    for entry in envelope["entry"]:
        for change in entry["changes"]:
            yield entry, change["field"], change["value"]


def envelope_items(envelope: dict[str, Any]) -> Iterator[tuple[str, WebhookItem]]:
    """Every item of the envelope for our numbers as (kind, typed item), in the order Meta sent them."""
    for entry, field, value in _entry_changes(envelope):
        if _change_owner(entry, value)[1]:
            yield from _change_items(field, value)


def envelope_foreign(envelope: dict[str, Any]) -> list[ForeignChange]:
    """The changes of the envelope that concern a number or account that is not ours."""
    foreign = []
    for entry, field, value in _entry_changes(envelope):
        owner, ours = _change_owner(entry, value)
        if not ours:
            foreign.append(ForeignChange(field=field, owner=owner, items=sum(1 for _ in _change_items(field, value))))
    return foreign
