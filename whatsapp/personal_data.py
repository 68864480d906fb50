"""What the WhatsApp app keeps about a person (raw deliveries, receipts) and how it is erased.

This app imports no domain app: conversations registers these functions with consent's
personal-data registry on its behalf, passing the person's traces as plain strings.
"""

from __future__ import annotations

import json

from django.db.models import Q

from whatsapp.models import WebhookDelivery, WebhookReceipt

ERASED = "[erased]"


def _delivery_without_person(body: str, numbers: tuple[str, ...], name: str) -> str:
    """A raw delivery without the person's items (their messages, statuses, profile, preferences).

    An item is theirs when one of its values is their WhatsApp id; any other mention left (say,
    their number in someone else's message) is cut out of the text.
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


def webhook_data_erase(*, numbers: tuple[str, ...], name: str) -> dict[str, int]:
    """Raw deliveries and receipts that name the person (by number or WhatsApp id).

    A delivery not yet processed may carry other people's statuses too: the person's number and
    name are cut out of it and it stays queued; processed ones go entirely.
    """
    mentions = Q(pk__in=[])
    receipts = Q(pk__in=[])
    for number in numbers:
        mentions |= Q(body__contains=number)
        receipts |= Q(key__contains=number)
    redacted = 0
    for delivery in WebhookDelivery.objects.select_for_update().filter(mentions, processed_at__isnull=True):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(body=_delivery_without_person(delivery.body, numbers, name))
        redacted += 1
    deleted = WebhookDelivery.objects.filter(mentions, processed_at__isnull=False).delete()[0]
    return {
        "webhook_deliveries_deleted": deleted,
        "webhook_deliveries_redacted": redacted,
        "webhook_receipts": WebhookReceipt.objects.filter(receipts).delete()[0],
    }
