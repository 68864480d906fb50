"""Many changed rows written back in one statement read back exactly as Django's own save writes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from campaigns.models import Message, MessageStatus
from core.rows import rows_update
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db

FIELDS = ["status", "decision", "wamid", "attempts", "error_code", "claim_token", "dispatched_at", "is_marketing", "contact"]


def written_and_read_back(messages: list[Message]) -> list[tuple]:
    rows_update(Message, messages, FIELDS)
    fresh = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in messages])}
    return [tuple(getattr(fresh[m.pk], f if f != "contact" else "contact_id") for f in FIELDS) for m in messages]


def test_every_kind_of_value_reads_back_as_written():
    first, second, other = contacts_create(3)
    messages = [Message.objects.create(contact=first), Message.objects.create(contact=second)]
    messages[0].status, messages[0].wamid, messages[0].attempts = MessageStatus.SENDING, "wamid.ÄÖ\"'\\n", 2
    messages[0].decision = {"reason": "eligible", "parameters": ["Ana", None, "20%"], "nested": {"ok": True, "n": 1.5}}
    messages[0].claim_token, messages[0].dispatched_at = uuid.uuid4(), datetime(2026, 12, 1, 1, 2, 3, 456789, tzinfo=UTC)
    messages[0].error_code, messages[0].is_marketing, messages[0].contact = 131026, True, other
    messages[1].decision, messages[1].wamid, messages[1].claim_token, messages[1].dispatched_at = {}, None, None, None

    assert written_and_read_back(messages) == [tuple(getattr(m, f if f != "contact" else "contact_id") for f in FIELDS) for m in messages]


def test_a_naive_moment_is_written_as_django_would_save_it(settings):
    message = Message.objects.create(contact=contacts_create(1)[0])
    message.dispatched_at = datetime(2026, 12, 1, 1, 2, 3)  # noqa: DTZ001 (naive on purpose)
    twin = Message.objects.create(contact=contacts_create(1, start=5)[0])

    with pytest.warns(RuntimeWarning):  # Django warns about the naive value, as on save()
        rows_update(Message, [message], ["dispatched_at"])
        twin.dispatched_at = message.dispatched_at
        twin.save(update_fields=["dispatched_at"])

    assert Message.objects.get(pk=message.pk).dispatched_at == Message.objects.get(pk=twin.pk).dispatched_at
