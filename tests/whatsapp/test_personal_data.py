"""What the WhatsApp side keeps about a person can be erased, and raw deliveries expire."""

from __future__ import annotations

import pytest
from django.utils import timezone

from consent.rights import contact_erase
from consent.tasks import retention_apply_task
from conversations.models import InboundMessage
from core.audit import Actor
from tests.factories import payload
from whatsapp.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def test_erasing_a_contact_empties_their_messages_and_deletes_their_raw_deliveries(deliver, opted_in_contact, contact_factory):
    deliver(payload("inbound_image.json"))
    other = contact_factory("+14155550103")
    deliver(payload("inbound_image.json", {"4915123456789": "14155550103", "wamid.IMG": "wamid.OTHER"}))

    report = contact_erase(contact=opted_in_contact, actor=Actor(label="support"))

    assert (report.counts["inbound_messages"], report.counts["webhook_deliveries_deleted"]) == (1, 1)
    mine = InboundMessage.objects.get(contact=opted_in_contact)
    assert (mine.text, mine.from_wa_id) == ("", "")
    assert mine.wamid.startswith("erased.")  # a WhatsApp message id encodes the number
    assert InboundMessage.objects.get(wamid="wamid.OTHER").contact == other
    assert "4915123456789" not in "".join(WebhookDelivery.objects.values_list("body", flat=True))
    assert WebhookDelivery.objects.count() == 1


def test_processed_deliveries_expire_after_the_retention_period(deliver, opted_in_contact, settings):
    settings.WHATSAPP_WEBHOOK_RETENTION_DAYS = 30
    deliver(payload("inbound_image.json"))
    deliver(payload("inbound_image.json", {"wamid.IMG": "wamid.NEW"}))
    deliver(payload("inbound_image.json", {"wamid.IMG": "wamid.WAITING"}), process=False)
    old, recent, unprocessed = WebhookDelivery.objects.order_by("pk")
    long_ago = timezone.now() - timezone.timedelta(days=31)
    WebhookDelivery.objects.filter(pk__in=[old.pk, unprocessed.pk]).update(received_at=long_ago)

    retention_apply_task()

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, unprocessed.pk}
    assert InboundMessage.objects.filter(wamid__in=["wamid.IMG", "wamid.NEW"]).count() == 2  # their effects stay
