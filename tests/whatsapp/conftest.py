"""Fixtures of the WhatsApp tests: contacts with consent, a live sandbox (payloads and helpers: tests/factories.py)."""

from __future__ import annotations

import pytest
from django.db import connections

from campaigns.models import Message, MessageStatus
from consent.services import consent_grant, contact_upsert
from tests.factories import OFFERS_NOTICE, PHONE

FAST = {"sent_delay": 0.01, "delivered_delay": 0.01, "read_delay": 0.01}


@pytest.fixture
def opted_in_contact(db):
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=OFFERS_NOTICE)
    return contact


@pytest.fixture
def campaign_message(opted_in_contact):
    """A template message handed to WhatsApp (accepted, wamid known); statuses treat every kind alike."""
    return Message.objects.create(
        kind=Message.Kind.TEST, contact=opted_in_contact, status=MessageStatus.ACCEPTED, wamid="wamid.XYZ"
    )


@pytest.fixture
def contact_factory(db):
    def make(phone: str, name: str = "", *, opted_in: bool = True):
        contact, _ = contact_upsert(phone=phone, name=name)
        if opted_in:
            consent_grant(contact=contact, source="web_form", evidence=OFFERS_NOTICE)
        return contact

    return make


@pytest.fixture
def live_sandbox(sandbox, live_server):
    # The live server answers in short-lived threads: close their connections after each request
    # so none is left open on the test database.
    kept = connections.settings["default"]["CONN_MAX_AGE"]
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    sandbox.configure(webhook_url=f"{live_server.url}/webhooks/whatsapp", **FAST)
    yield sandbox
    connections.settings["default"]["CONN_MAX_AGE"] = kept  # for this test only, not the rest of the session
