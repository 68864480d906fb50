"""The admin shows templates, webhook deliveries and inbound messages read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from conversations.models import InboundMessage
from tests.factories import payload
from whatsapp.models import MessageTemplate, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(user)
    return client


def test_templates_are_listed_with_status_category_and_quality(admin_client, sandbox):
    call_command("sync_templates")

    page = admin_client.get("/admin/whatsapp/messagetemplate/").content.decode()

    assert "spring_sale" in page and "restock_alert" in page
    assert "Paused" in page and "Marketing" in page and "Utility" in page and "GREEN" in page
    sale = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    assert admin_client.get(f"/admin/whatsapp/messagetemplate/{sale.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/whatsapp/messagetemplate/add/").status_code == 403
    response = admin_client.post(f"/admin/whatsapp/messagetemplate/{sale.pk}/change/", {"status": "APPROVED"})
    assert response.status_code == 403


def test_deliveries_and_inbound_messages_are_read_only(admin_client, deliver):
    deliver(payload("inbound_image.json"))
    delivery, inbound = WebhookDelivery.objects.get(), InboundMessage.objects.get()

    assert admin_client.get("/admin/whatsapp/webhookdelivery/").status_code == 200
    assert "Is this shoe in stock?" in admin_client.get("/admin/conversations/inboundmessage/").content.decode()
    assert admin_client.get(f"/admin/conversations/inboundmessage/{inbound.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/whatsapp/webhookdelivery/{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()
