"""Which WhatsApp business phone numbers and accounts are ours, and how each one sends.

One app (and one app secret) may receive webhooks for numbers and accounts that are not this
installation's, e.g. a number of the same business used by another tool. Only items for our own
numbers may change consent or message statuses.

Ours are the number of the settings (``WHATSAPP_PHONE_NUMBER_ID``: the default, which works with no
rows at all) and the active ``SendingNumber`` rows the administrators added. The webhook path asks
for every change, so the list is read from the database at most once every few seconds per process
and whenever a row is saved in this process (``numbers_forget``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction

from core.audit import Actor, audit_record
from whatsapp.models import SendingNumber

# Another process's admin edit is seen within this many seconds.
CACHE_SECONDS = 5.0
MISS_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Number:
    """One of our sending numbers, as the sending pipeline needs it."""

    phone_number_id: str
    display_phone_number: str
    business_account_id: str
    throughput: float  # messages per second
    marketing_messages_api: bool = False
    label: str = ""
    is_default: bool = False

    def __str__(self) -> str:
        shown = self.display_phone_number or self.phone_number_id
        return f"{self.label} ({shown})" if self.label else shown


_lock = threading.Lock()
_cached: tuple[float, tuple[tuple[str, ...], dict[str, Number]]] | None = None


def _settings_key() -> tuple[str, ...]:
    # Tests change these settings: a change invalidates the cache at once.
    return (
        settings.WHATSAPP_PHONE_NUMBER_ID, settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
        str(settings.CAMPAIGN_SEND_RATE), settings.WHATSAPP_DISPLAY_NUMBER, str(settings.WHATSAPP_MARKETING_MESSAGES_API),
    )  # fmt: skip


def _load() -> dict[str, Number]:
    default_id = settings.WHATSAPP_PHONE_NUMBER_ID
    found: dict[str, Number] = {}
    if default_id:
        found[default_id] = Number(
            phone_number_id=default_id,
            display_phone_number=settings.WHATSAPP_DISPLAY_NUMBER,
            business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            throughput=float(settings.CAMPAIGN_SEND_RATE),
            marketing_messages_api=bool(settings.WHATSAPP_MARKETING_MESSAGES_API),
            is_default=True,
        )
    try:
        with transaction.atomic():  # a savepoint: a failure must not break the caller's transaction
            rows = list(SendingNumber.objects.filter(active=True))
    except DatabaseError:  # not migrated yet (a release rolling out): the settings' number still works
        rows = []
    for row in rows:
        is_default = row.phone_number_id == default_id
        found[row.phone_number_id] = Number(
            phone_number_id=row.phone_number_id,
            display_phone_number=row.display_phone_number,
            business_account_id=row.business_account_id or settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            # The default number keeps the rate of the settings (bench and chaos tune it there).
            throughput=float(settings.CAMPAIGN_SEND_RATE) if is_default else float(row.throughput),
            marketing_messages_api=row.marketing_messages_api or (is_default and bool(settings.WHATSAPP_MARKETING_MESSAGES_API)),
            label=row.label,
            is_default=is_default,
        )
    return found


def _numbers(*, max_age: float = CACHE_SECONDS) -> dict[str, Number]:
    global _cached
    key = _settings_key()
    cached = _cached
    if cached is not None and cached[1][0] == key and time.monotonic() - cached[0] < max_age:
        return cached[1][1]
    with _lock:
        loaded = _load()
        _cached = (time.monotonic(), (key, loaded))
        return loaded


def numbers_forget() -> None:
    """Read the numbers again at the next question (after an admin saved one)."""
    global _cached
    _cached = None


def numbers_all() -> list[Number]:
    """Our sending numbers, the default first."""
    return sorted(_numbers().values(), key=lambda number: (not number.is_default, number.display_phone_number))


def number_choices() -> list[tuple[str, str]]:
    """Our numbers as form choices (phone number id, label); the default one is the empty choice."""
    return [("" if number.is_default else number.phone_number_id, f"{number} (default)" if number.is_default else str(number))
            for number in numbers_all()]  # fmt: skip


def number_default() -> Number | None:
    """The number of the settings, or None when none is configured."""
    return _numbers().get(settings.WHATSAPP_PHONE_NUMBER_ID)


def number_get(phone_number_id: str | None, *, reread_on_miss: bool = True) -> Number | None:
    """Our number with this id (empty: the default), or None when it is not ours.

    A miss reads the numbers again (one added a moment ago in another process is found rather than
    refused); callers asking many times a second pass ``reread_on_miss=False``.
    """
    if not phone_number_id:
        return number_default()
    found = _numbers().get(str(phone_number_id))
    if found is None and reread_on_miss:
        found = _numbers(max_age=0).get(str(phone_number_id))
    return found


def our_phone_number_ids() -> frozenset[str]:
    return frozenset(_numbers())


def our_business_account_ids() -> frozenset[str]:
    return frozenset(number.business_account_id for number in _numbers().values() if number.business_account_id) | frozenset(
        value for value in (settings.WHATSAPP_BUSINESS_ACCOUNT_ID,) if value
    )


def is_our_phone_number_id(phone_number_id: str) -> bool:
    """Whether ``phone_number_id`` (a change's ``metadata.phone_number_id``) is one of our numbers."""
    # A miss reads again, at most once a second: a number added a moment ago is found, and a flood of
    # foreign webhooks costs one query a second.
    return str(phone_number_id) in _numbers() or str(phone_number_id) in _numbers(max_age=MISS_RECHECK_SECONDS)


def is_our_business_account_id(account_id: str) -> bool:
    """Whether ``account_id`` (an entry's ``id``: the WhatsApp Business Account) is one of ours."""
    return str(account_id) in our_business_account_ids()


def marketing_messages_api_enabled(phone_number_id: str) -> bool:
    """Whether the number sends its marketing templates through the Marketing Messages API.

    A number configured in the admin answers from its own field; the number of the settings follows
    WHATSAPP_MARKETING_MESSAGES_API (or its admin row's field).
    """
    number = number_get(phone_number_id)
    return number is not None and number.marketing_messages_api


def marketing_messages_api_for(*, category: str, phone_number_id: str) -> bool:
    """Whether a template of ``category`` sent from ``phone_number_id`` goes to ``/marketing_messages``.

    The one place that picks the endpoint of a template send. Only the latest MARKETING category goes
    there, the rest always to ``/messages``: Meta's "Route template messages by category"
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/route-template-messages/)
    maps MARKETING to /marketing_messages and every other category to /messages, as the endpoint
    refuses them (134100 / 131055). Free-form text never comes here.
    """
    return str(category).upper() == "MARKETING" and marketing_messages_api_enabled(phone_number_id)


def sending_number_save(*, number: SendingNumber, actor: Actor, changed: list[str] | None = None) -> SendingNumber:
    """Save a number an administrator added or changed (audited); every later question sees it."""
    number.full_clean()
    number.save()
    audit_record(
        actor=actor, action="whatsapp.sending_number_save", object_type="sending_number", object_id=number.pk,
        details={"phone_number_id": number.phone_number_id, "changed": changed or [], "throughput": number.throughput,
                 "marketing_messages_api": number.marketing_messages_api, "active": number.active},
    )  # fmt: skip
    numbers_forget()
    return number
