"""Drill: 1,000 forged opt-ins and webhooks during a running campaign change nothing about it.

With real Celery workers and beat, the sandbox as Meta and the live server receiving webhooks, a
control campaign runs undisturbed; then the same campaign to an audience of the same shape runs
while 1,000 forgeries arrive: opt-in page submissions for random numbers, webhooks signed with
the wrong secret, and correctly signed webhooks for another phone number or business account
carrying STOP and START messages, "Stop promotions" buttons, preference stops, failed and read
statuses for the campaign's own messages and a template pause. Both campaigns must message the
same members, each once, and end with the same statuses; no forged number is messaged. Forged
opt-ins may be recorded or left pending (see the opt-in rules): either way they add no recipient.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import Client

from campaigns.models import Campaign, Message, MessageStatus, Segment
from consent.models import ConsentStatus, Contact, Tag
from consent.selectors import contact_consent_status
from consent.services import consent_revoke
from tests.campaigns.test_workers import approved_via_api, finished, live, processes, wait_until  # noqa: F401 (fixtures)
from tests.factories import contacts_create
from whatsapp.models import MessageTemplate, WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]

OPTED_IN, NEVER_ASKED, OPTED_OUT = 100, 10, 10
SIZE = OPTED_IN + NEVER_ASKED + OPTED_OUT
OTHER_NUMBER = "100000000000999"
OTHER_ACCOUNT = "200000000000999"
SETTLED = [MessageStatus.SKIPPED, MessageStatus.READ, MessageStatus.FAILED]


def audience(tag: str, start: int) -> tuple[Segment, list[Contact]]:
    """Members in order: opted in, never asked, opted out; the same shape for every ``start``."""
    members = [
        *contacts_create(OPTED_IN, start=start),
        *contacts_create(NEVER_ASKED, start=start + OPTED_IN, opted_in=False),
        *contacts_create(OPTED_OUT, start=start + OPTED_IN + NEVER_ASKED),
    ]
    for contact in members[-OPTED_OUT:]:
        consent_revoke(contact=contact, source="support")
    label = Tag.objects.create(name=tag)
    Contact.tags.through.objects.bulk_create([Contact.tags.through(contact_id=c.pk, tag_id=label.pk) for c in members])
    return Segment.objects.create(name=tag, rules={"tag": tag}), members


def outcome(campaign_id: int, members: list[Contact]) -> list[tuple[str, str]]:
    """(status, skip reason) of each member's message, in member order."""
    messages = {m.contact_id: (m.status, m.skip_reason) for m in Message.objects.filter(campaign_id=campaign_id)}
    return [messages.get(contact.pk, ("no message", "")) for contact in members]


def settled(sandbox, campaign_id: int) -> Campaign:
    """The campaign finished and every status the sandbox sends for it arrived and was applied."""
    campaign = finished(campaign_id, timeout=120)
    wait_until(
        lambda: sandbox.webhooks()["pending"] == 0
        and not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()
        and not Message.objects.filter(campaign_id=campaign_id).exclude(status__in=SETTLED).exists(),
        timeout=120, what="the campaign's statuses",
    )  # fmt: skip
    return campaign


# --- forged webhook bodies ------------------------------------------------------------------------


def envelope(field: str, value: dict, *, phone_number_id: str | None = None, account_id: str | None = None) -> dict:
    if phone_number_id is not None:
        value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550009999", "phone_number_id": phone_number_id}, **value}
    entry = {"id": account_id or settings.WHATSAPP_BUSINESS_ACCOUNT_ID, "changes": [{"field": field, "value": value}]}
    return {"object": "whatsapp_business_account", "entry": [entry]}


def text_from(contact: Contact, text: str, n: int, *, phone_number_id: str) -> dict:
    wa_id = contact.phone.lstrip("+")
    message = {"from": wa_id, "id": f"wamid.FORGED{n}", "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
    return envelope("messages", {"contacts": [{"profile": {"name": "x"}, "wa_id": wa_id}], "messages": [message]}, phone_number_id=phone_number_id)


def stop_button_from(contact: Contact, n: int) -> dict:
    wa_id = contact.phone.lstrip("+")
    message = {"from": wa_id, "id": f"wamid.FORGEDBTN{n}", "timestamp": str(int(time.time())), "type": "button",
               "button": {"payload": "Stop promotions", "text": "Stop promotions"}}  # fmt: skip
    return envelope("messages", {"contacts": [{"profile": {"name": "x"}, "wa_id": wa_id}], "messages": [message]}, phone_number_id=OTHER_NUMBER)


def preference_stop_from(contact: Contact, n: int) -> dict:
    item = {"wa_id": contact.phone.lstrip("+"), "category": "marketing_messages", "value": "stop", "timestamp": int(time.time()) + n}
    return envelope("user_preferences", {"user_preferences": [item]}, phone_number_id=OTHER_NUMBER)


def status_of(wamid: str, status: str, *, phone_number_id: str) -> dict:
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "4915100000000"}
    if status == "failed":
        item["errors"] = [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable", "error_data": {"details": "forged"}}]
    return envelope("messages", {"statuses": [item]}, phone_number_id=phone_number_id)


def template_paused(n: int) -> dict:
    value = {"event": "PAUSED", "message_template_id": 900000000000001 + n, "message_template_name": "spring_sale",
             "message_template_language": "en_US", "reason": "NONE"}  # fmt: skip
    return envelope("message_template_status_update", value, account_id=OTHER_ACCOUNT)


def forged_webhooks(members: list[Contact], wamids: list[str]) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]]]:
    """750 signed bodies: 250 with the wrong secret, 500 correctly signed for a number or account not ours."""
    rng = random.Random(12)
    opted_in, never_asked = members[:OPTED_IN], members[OPTED_IN : OPTED_IN + NEVER_ASKED]
    wrong_secret, foreign = [], []
    for n in range(250):
        person = rng.choice(opted_in)
        body = text_from(person, "STOP", n, phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID) if n % 2 else status_of(
            rng.choice(wamids), "failed", phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID
        )
        wrong_secret.append(body)
    for n in range(500):
        kind = n % 6
        if kind == 0:
            body = text_from(rng.choice(opted_in), "STOP", 1000 + n, phone_number_id=OTHER_NUMBER)
        elif kind == 1:
            body = text_from(rng.choice(never_asked), "START", 1000 + n, phone_number_id=OTHER_NUMBER)
        elif kind == 2:
            body = stop_button_from(rng.choice(opted_in), n)
        elif kind == 3:
            body = preference_stop_from(rng.choice(opted_in), n)
        elif kind == 4:
            body = status_of(rng.choice(wamids), rng.choice(["failed", "read"]), phone_number_id=OTHER_NUMBER)
        else:
            body = template_paused(n)
        foreign.append(body)

    def signed(body: dict, secret: str) -> tuple[bytes, str]:
        raw = json.dumps(body).encode()
        return raw, "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()

    return [signed(b, "not-" + settings.WHATSAPP_APP_SECRET) for b in wrong_secret], [signed(b, settings.WHATSAPP_APP_SECRET) for b in foreign]


def forged_optins(optin_page: str, count: int) -> list[str]:
    """Opt-in page submissions for random numbers, each from an address of its own (no rate limit)."""
    rng = random.Random(34)
    numbers = [f"+4917{rng.randrange(10**8, 10**9)}" for _ in range(count)]
    for n, number in enumerate(numbers):
        visitor = Client(REMOTE_ADDR=f"198.51.{n // 250}.{n % 250 + 1}")
        response = visitor.post(optin_page, {"phone": number, "consent": "yes", "notice_version": "2026-11"})
        assert response.status_code in (200, 302), response.content[:500]
    return numbers


def test_a_thousand_forgeries_during_a_campaign_change_nothing(live, sandbox, marketer, approver, live_server, optin_form):  # noqa: F811
    # Slow answers from "Meta": the campaign is still sending while the forgeries arrive.
    sandbox.configure(latency=0.3)
    control_segment, control_members = audience("control", 0)
    control_id = approved_via_api(marketer, approver, control_segment)
    settled(sandbox, control_id)
    expected = outcome(control_id, control_members)
    assert expected.count((MessageStatus.READ, "")) == OPTED_IN

    segment, members = audience("drill", 1000)
    campaign_id = approved_via_api(marketer, approver, segment)
    wait_until(
        lambda: Message.objects.filter(campaign_id=campaign_id, wamid__gt="").count() >= 5,
        timeout=60, what="the first sends", interval=0.02,
    )  # fmt: skip
    assert Campaign.objects.get(pk=campaign_id).status == Campaign.Status.SENDING
    wamids = list(Message.objects.filter(campaign_id=campaign_id, wamid__gt="").values_list("wamid", flat=True))
    wrong_secret, foreign = forged_webhooks(members, wamids)

    url = f"{live_server.url}/webhooks/whatsapp"

    def post(signed: tuple[bytes, str]) -> int:
        body, signature = signed
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        return requests.post(url, data=body, headers=headers, timeout=30).status_code

    bodies = wrong_secret + foreign
    random.Random(56).shuffle(bodies)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = pool.map(post, bodies)  # submitted at once, posted while the opt-ins below go in
        forged_numbers = forged_optins(f"/optin/{optin_form.slug}/", 250)
        answers = list(answers)
    assert answers.count(403) == len(wrong_secret) and answers.count(200) == len(foreign)

    campaign = settled(sandbox, campaign_id)
    assert campaign.status == Campaign.Status.COMPLETED
    assert outcome(campaign_id, members) == expected
    sent = [send["to"] for send in sandbox.sends()]
    assert sorted(sent) == sorted({*sent})  # one message each: no second send, no reply to a forged STOP or START
    drill_sent = {"+" + to for to in sent} & {c.phone for c in members}
    assert drill_sent == {c.phone for c, status in zip(members, expected, strict=True) if status[0] != MessageStatus.SKIPPED}
    assert not {"+" + to for to in sent} & set(forged_numbers)
    assert not Message.objects.filter(contact__phone__in=forged_numbers).exists()
    assert [contact_consent_status(c) for c in members] == [ConsentStatus.OPTED_IN] * OPTED_IN + [ConsentStatus.NONE] * NEVER_ASKED + [
        ConsentStatus.OPTED_OUT
    ] * OPTED_OUT
    assert MessageTemplate.objects.get(name="spring_sale", language="en_US").status == MessageTemplate.Status.APPROVED
    foreign_bodies = {hashlib.sha256(body).hexdigest() for body, _ in foreign}
    stored = WebhookDelivery.objects.filter(body_sha256__in=foreign_bodies)
    assert stored.count() == len(foreign_bodies) and all(d.foreign_items == 1 for d in stored)  # repeated bodies stored once
    assert not WebhookDelivery.objects.filter(body_sha256__in={hashlib.sha256(body).hexdigest() for body, _ in wrong_secret}).exists()
