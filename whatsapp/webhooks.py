"""Reading Meta's webhook deliveries: the signature, the envelope and the items inside it.

Pure functions without database access; whatsapp.services decides what each item does. Items of
changes for a phone number or business account that is not ours (whatsapp.numbers) are never
yielded as items: they are only counted (``envelope_foreign``).
"""

from __future__ import annotations

import dataclasses
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


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a payload may omit what does not apply)."""
    return value if isinstance(value, dict) else {}


def _dict_list(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = value.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# People with a WhatsApp username may reach us without their phone number: items then name them by a
# business-scoped user id (BSUID) instead of, or beside, the number. Where Meta puts each identifier:
# - contacts[]: ``wa_id`` (only while the number is shared), ``user_id``, ``parent_user_id``, ``profile.username``;
# - messages[]: ``from_user_id`` beside or instead of ``from``;
# - statuses[]: ``recipient_user_id`` / ``recipient_parent_user_id`` beside or instead of ``recipient_id``;
# - user_preferences[]: ``user_id`` (and ``parent_user_id``) beside or instead of ``wa_id``;
# - a ``system`` message of type ``user_changed_user_id`` carries the new ``user_id``, and no contacts[].
# Sources: https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/,
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/,
# https://dualhook.com/docs/contacts-bsuid-webhooks, pywa (david-lev/pywa) pywa/types/user.py; the sandbox
# (whatsapp/sandbox/people.py) emits the same. An item is never dropped for lack of a number.


@dataclass(frozen=True)
class StatusItem:
    wamid: str
    status: str
    at: datetime
    recipient_id: str
    callback_data: str
    errors: list[dict[str, Any]]
    recipient_user_id: str = ""
    recipient_parent_user_id: str = ""
    username: str = ""
    # Meta's ``pricing`` object as sent: category, type, pricing_model and the deprecated billable.
    pricing: dict[str, Any] = dataclasses.field(default_factory=dict)
    phone_number_id: str = ""  # which of our numbers sent the message (``metadata.phone_number_id``)


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
    from_user_id: str = ""
    parent_user_id: str = ""
    username: str = ""
    system_type: str = ""  # for type "system": user_changed_user_id, user_changed_number...
    new_user_id: str = ""  # user_changed_user_id: the BSUID the person has from now on
    new_parent_user_id: str = ""
    phone_number_id: str = ""  # which of our numbers the person wrote to (``metadata.phone_number_id``)


@dataclass(frozen=True)
class PreferenceItem:
    wa_id: str
    category: str
    value: str
    at: datetime
    raw_timestamp: str
    user_id: str = ""
    parent_user_id: str = ""
    username: str = ""
    # Meta keeps the marketing preference per business number: the one it was set for.
    phone_number_id: str = ""

    @property
    def person_key(self) -> str:
        """The identifier to deduplicate repeated deliveries by (the number, else the BSUID)."""
        return self.wa_id or self.user_id


@dataclass(frozen=True)
class _Profile:
    """What contacts[] says about one person."""

    wa_id: str = ""
    user_id: str = ""
    parent_user_id: str = ""
    username: str = ""
    name: str = ""


def _profiles(value: dict[str, Any]) -> list[_Profile]:
    profiles = []
    for contact in _dict_list(value, "contacts"):
        profile = _object(contact.get("profile"))
        profiles.append(
            _Profile(
                wa_id=str(contact.get("wa_id") or ""),
                user_id=str(contact.get("user_id") or ""),
                parent_user_id=str(contact.get("parent_user_id") or ""),
                username=str(profile.get("username") or ""),
                name=str(profile.get("name") or ""),
            )
        )
    return profiles


def _profile_of(profiles: list[_Profile], *, wa_id: str, user_id: str) -> _Profile:
    """The contacts[] entry for the person with this number or BSUID; one lone entry is theirs too."""
    for profile in profiles:
        if (wa_id and profile.wa_id == wa_id) or (user_id and profile.user_id == user_id):
            return profile
    return profiles[0] if len(profiles) == 1 else _Profile()


def _phone_number_id(value: dict[str, Any]) -> str:
    return str(_object(value.get("metadata")).get("phone_number_id") or "")


def statuses(value: dict[str, Any]) -> Iterator[StatusItem]:
    profiles = _profiles(value)
    for status in _dict_list(value, "statuses"):
        if not status.get("id") or not status.get("status"):
            continue
        recipient_id = str(status.get("recipient_id") or "")
        user_id = str(status.get("recipient_user_id") or "")
        profile = _profile_of(profiles, wa_id=recipient_id, user_id=user_id)
        yield StatusItem(
            wamid=str(status["id"]),
            status=str(status["status"]),
            at=unix_time(status.get("timestamp")),
            recipient_id=recipient_id,
            callback_data=str(status.get("biz_opaque_callback_data") or ""),
            errors=_dict_list(status, "errors"),
            recipient_user_id=user_id or profile.user_id,
            recipient_parent_user_id=str(status.get("recipient_parent_user_id") or "") or profile.parent_user_id,
            username=profile.username,
            pricing=status["pricing"] if isinstance(status.get("pricing"), dict) else {},
            phone_number_id=_phone_number_id(value),
        )


def _message_text_and_payload(message: dict[str, Any]) -> tuple[str, str]:
    kind = message.get("type")
    content = _object(message.get(kind)) if isinstance(kind, str) else {}
    if kind == "text":
        return str(content.get("body") or ""), ""
    if kind == "button":
        return str(content.get("text") or ""), str(content.get("payload") or "")
    if kind == "interactive":
        reply_type = content.get("type")
        reply = _object(content.get(reply_type)) if isinstance(reply_type, str) else {}
        return str(reply.get("title") or ""), str(reply.get("id") or "")
    if kind == "reaction":
        return str(content.get("emoji") or ""), ""
    return str(content.get("caption") or ""), ""


def inbound_messages(value: dict[str, Any]) -> Iterator[InboundItem]:
    profiles = _profiles(value)
    for message in _dict_list(value, "messages"):
        wa_id, user_id = str(message.get("from") or ""), str(message.get("from_user_id") or "")
        if not message.get("id") or not (wa_id or user_id):
            continue  # names nobody: not a message a person sent
        text, payload = _message_text_and_payload(message)
        context = _object(message.get("context"))
        system = _object(message.get("system")) if message.get("type") == "system" else {}
        profile = _profile_of(profiles, wa_id=wa_id, user_id=user_id)
        yield InboundItem(
            wamid=str(message["id"]),
            from_wa_id=wa_id,
            type=str(message.get("type") or "unknown")[:20],
            text=text or str(system.get("body") or ""),
            payload=payload[:1000],
            context_wamid=str(context.get("id") or ""),
            sent_at=unix_time(message.get("timestamp")),
            profile_name=profile.name,
            from_user_id=user_id or profile.user_id,
            parent_user_id=profile.parent_user_id,
            username=profile.username,
            system_type=str(system.get("type") or ""),
            new_user_id=str(system.get("user_id") or ""),
            new_parent_user_id=str(system.get("parent_user_id") or ""),
            phone_number_id=_phone_number_id(value),
        )


def preferences(value: dict[str, Any]) -> Iterator[PreferenceItem]:
    """``user_preferences`` items (Meta's user_preferences webhook reference); ``user_id`` beside or instead of ``wa_id``."""
    profiles = _profiles(value)
    for item in _dict_list(value, "user_preferences"):
        wa_id = str(item.get("wa_id") or item.get("recipient_id") or "")
        user_id = str(item.get("user_id") or "")
        profile = _profile_of(profiles, wa_id=wa_id, user_id=user_id)
        wa_id, user_id = wa_id or profile.wa_id, user_id or profile.user_id
        if not (wa_id or user_id):
            continue
        yield PreferenceItem(
            wa_id=wa_id,
            category=str(item.get("category") or "marketing_messages"),
            value=str(item.get("value") or "").lower(),
            at=unix_time(item.get("timestamp")),
            raw_timestamp=str(item.get("timestamp") or ""),
            user_id=user_id,
            parent_user_id=str(item.get("parent_user_id") or "") or profile.parent_user_id,
            username=profile.username,
            phone_number_id=_phone_number_id(value),
        )


@dataclass(frozen=True)
class ChangeItem:
    """A change other than messages and preferences (template, quality or account updates), as sent."""

    field: str
    value: dict[str, Any]


# The ChangeItem field of ``errors`` Meta sends in a ``messages`` change outside any status
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/: "errors
# can also arrive in entry.changes.value.errors").
OUT_OF_BAND_ERRORS = "errors"


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
        if _dict_list(value, "errors"):  # out-of-band errors of the account or number, not of one message
            yield ItemKind.CHANGE, ChangeItem(field=OUT_OF_BAND_ERRORS, value=value)
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
