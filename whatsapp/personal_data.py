"""What the WhatsApp app keeps about a person (raw deliveries, receipts) and how it is erased.

This app imports no domain app: conversations registers these functions with consent's
personal-data registry on its behalf, passing the person's traces as plain strings.
"""

from __future__ import annotations

import json

from django.db.models import Q

from whatsapp.models import WebhookDelivery, WebhookReceipt

ERASED = "[erased]"
_IDS_PER_QUERY = 300


def _delivery_without_person(body: str, numbers: tuple[str, ...], name: str) -> str:
    """A raw delivery without the person's items (their messages, statuses, profile, preferences).

    An item is theirs when one of its values is their WhatsApp id or one of their message ids; any
    other mention left (say, their number in someone else's message) is cut out of the text.
    """
    envelope = json.loads(body)
    for entry in envelope.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            for key, items in list(value.items()):
                if isinstance(items, list):
                    value[key] = [item for item in items if not (isinstance(item, dict) and set(map(str, item.values())) & set(numbers))]
    text = json.dumps(envelope)
    for needle in (*numbers, name):
        if needle:
            text = text.replace(json.dumps(needle)[1:-1], ERASED)
    return text


def _receipts_of(numbers: tuple[str, ...], message_ids: tuple[str, ...]) -> int:
    """Delete the receipts naming the person: ``preference:<wa_id>:…`` and ``status:<message id>:…``."""
    deleted = 0
    # In slices: one statement per few hundred message ids keeps the OR list short.
    for start in range(0, max(len(message_ids), 1), _IDS_PER_QUERY):
        keys = Q(pk__in=[])
        if start == 0:
            for number in numbers:
                keys |= Q(key__contains=number)
        for message_id in message_ids[start : start + _IDS_PER_QUERY]:
            keys |= Q(key__startswith=f"status:{message_id}:")
        deleted += WebhookReceipt.objects.filter(keys).delete()[0]
    return deleted


def webhook_data_erase(*, numbers: tuple[str, ...], name: str, message_ids: tuple[str, ...] = ()) -> dict[str, int]:
    """Raw deliveries and receipts that name the person (by number, WhatsApp id or message id).

    A delivery not yet processed may carry other people's statuses too: the person's items, number,
    name and message ids are cut out of it and it stays queued; processed ones go entirely.
    """
    needles = (*numbers, *message_ids)
    mentions = Q(pk__in=[])
    for needle in needles:
        mentions |= Q(body__contains=needle) | Q(last_error__contains=needle)
    redacted = 0
    for delivery in WebhookDelivery.objects.select_for_update().filter(mentions, processed_at__isnull=True):
        last_error = delivery.last_error
        for needle in needles:
            last_error = last_error.replace(needle, ERASED)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            body=_delivery_without_person(delivery.body, needles, name), last_error=last_error
        )
        redacted += 1
    deleted = WebhookDelivery.objects.filter(mentions, processed_at__isnull=False).delete()[0]
    return {
        "webhook_deliveries_deleted": deleted,
        "webhook_deliveries_redacted": redacted,
        "webhook_receipts": _receipts_of(numbers, message_ids),
    }
