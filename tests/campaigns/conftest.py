"""Helpers for campaign tests: sandbox templates, contacts with consent, API clients per role."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import FrequencyCapPolicy, Segment
from consent.models import Contact
from consent.services import ConsentChange, Evidence, consent_record_many, contact_phone_fields
from whatsapp.models import MessageTemplate
from whatsapp.sandbox.catalog import default_templates
from whatsapp.template_sync import templates_store

NOTICE = Evidence(notice_text="Yes, Acme may send me offers on WhatsApp, up to 4 a month.", notice_version="v1")


def phone(n: int) -> str:
    """A valid German mobile number, distinct for each n (the sandbox treats the last digits specially)."""
    return f"+49151{20000000 + n * 10 + 1:08d}"


def contacts_create(count: int, *, start: int = 0, opted_in: bool = True, **fields: Any) -> list[Contact]:
    """``count`` contacts in a few statements (consent through the ledger service, in one batch)."""
    contacts = []
    for n in range(start, start + count):
        e164 = phone(n)
        contacts.append(Contact(phone=e164, name=fields.get("name", f"Person {n}"), **{**contact_phone_fields(e164), **{k: v for k, v in fields.items() if k != "name"}}))
    Contact.objects.bulk_create(contacts, batch_size=1000)
    contacts = list(Contact.objects.filter(phone__in=[c.phone for c in contacts]).order_by("pk"))
    if opted_in:
        consent_record_many(changes=[ConsentChange(contact=c, action="opt_in", source="web_form", evidence=NOTICE) for c in contacts])
    return contacts


@pytest.fixture
def templates(db) -> dict[tuple[str, str], MessageTemplate]:
    """The sandbox's templates, stored as the template sync stores them."""
    templates_store(remote_templates=default_templates())
    return {(t.name, t.language): t for t in MessageTemplate.objects.all()}


@pytest.fixture
def spring_sale(templates) -> MessageTemplate:
    """MARKETING, two body parameters ({{1}} name, {{2}} discount) and a tracked URL button."""
    return templates[("spring_sale", "en_US")]


@pytest.fixture
def no_quiet_hours(db) -> None:
    """Quiet hours off, so that what is sent does not depend on the hour the tests run at."""
    FrequencyCapPolicy.objects.update_or_create(pk=1, defaults={"quiet_hours_start": time(0), "quiet_hours_end": time(0)})


@pytest.fixture
def everyone(db) -> Segment:
    return Segment.objects.create(name="everyone", rules={"all": []})


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def as_marketer(marketer) -> APIClient:
    return api_client(marketer)


@pytest.fixture
def as_approver(approver) -> APIClient:
    return api_client(approver)


@pytest.fixture
def as_support(support) -> APIClient:
    return api_client(support)


@pytest.fixture
def anonymous(db) -> APIClient:
    return api_client()
