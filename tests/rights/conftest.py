"""A person with data everywhere Retarget keeps it, each piece put there through the interface that puts it there."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Click, Message, MessageStatus
from consent.models import Contact, Tag
from conversations.models import OptInConfirmation
from tests.factories import new_visitor_ip, payload
from tests.optin_helpers import join_text_shown
from tests.rights.person import NAME, NEW_NAME, OTHER_PHONE, PERSON_AGENT, PHONE, WA_ID, Person, inbound_text


@pytest.fixture
def person(db, optin_form, api_client, marketer, support, admin_client_for, deliver, client) -> Person:
    """Opted in on the hosted page (confirmed from WhatsApp), profile pushed by the API, behaviour events, a campaign message
    with its decision and a click, messages sent by the person (one delivery still waiting for the
    worker), a pending double opt-in, a name correction in the admin, and an export by support."""
    # An address of its own: per-IP rate limits live in Redis across tests, and staff use another one.
    person_ip = new_visitor_ip()
    visitor = Client(REMOTE_ADDR=person_ip, HTTP_USER_AGENT=PERSON_AGENT)
    page = visitor.post(f"/optin/{optin_form.slug}/", {"phone": PHONE, "consent": "on", "notice_version": optin_form.notice_version})
    assert page.status_code == 302, page.content
    # The sign-up counts once the person sends its code from their number.
    deliver(inbound_text(join_text_shown(visitor, page), wamid="wamid.JOIN1"))

    as_marketer = api_client(marketer)
    upserted = as_marketer.post(
        "/api/v1/contacts",
        {"phone": PHONE, "name": NAME, "language": "de", "attributes": {"first_name": "Zebedee", "shoe_size": 44}, "tags": ["vip"]},
        format="json",
    )
    assert upserted.status_code == 200, upserted.content
    contact = Contact.objects.get(phone=PHONE)
    events = as_marketer.post(
        "/api/v1/events",
        [{"phone": PHONE, "name": "product_viewed", "properties": {"sku": "RUN-1", "by": NAME}, "occurred_at": timezone.now().isoformat()}],
        format="json",
    )
    assert events.status_code in (200, 201, 207), events.content

    campaign = Campaign.objects.create(name="Spring sale", status=Campaign.Status.COMPLETED, created_by=marketer)
    message = Message.objects.create(
        kind=Message.Kind.CAMPAIGN, campaign=campaign, contact=contact, status=MessageStatus.READ, wamid="wamid.SPRING1",
        is_marketing=True, decision={
            "outcome": "send", "reason": "eligible", "parameters": [NAME, "20%"], "time_zone": "Europe/Berlin",
            "result": {"outcome": "accepted", "wamid": "wamid.SPRING1"},
        },
    )  # fmt: skip
    Message.objects.create(kind=Message.Kind.REPLY, contact=contact, status=MessageStatus.DELIVERED, body=f"Hi {NAME}, noted.")
    Click.objects.create(message=message)

    deliver(inbound_text(f"Hi, {NAME} here, call me back on {PHONE}", wamid="wamid.HELLO1"))
    deliver(payload("status_delivered.json", {"4915123456789": WA_ID, "wamid.XYZ": "wamid.SPRING1"}))
    # Still waiting for the worker, together with another person's message that must survive.
    other = inbound_text("Where is my order?", wamid="wamid.OTHER1", wa_id=OTHER_PHONE.lstrip("+"), name="Olga")
    mine = inbound_text(f"This is {NAME} again", wamid="wamid.HELLO2")
    other["entry"][0]["changes"][0]["value"]["messages"] += mine["entry"][0]["changes"][0]["value"]["messages"]
    other["entry"][0]["changes"][0]["value"]["contacts"] += mine["entry"][0]["changes"][0]["value"]["contacts"]
    deliver(other, process=False)

    OptInConfirmation.objects.create(
        contact=contact, form=optin_form, notice_text=optin_form.notice_text, page_url=f"https://acme.example/optin?phone={PHONE}",
        ip_address=person_ip, user_agent=PERSON_AGENT, expires_at=timezone.now() + timezone.timedelta(days=7),
    )  # fmt: skip

    # The marketer corrects the name in the admin's contact form.
    change = admin_client_for(marketer).post(
        f"/admin/consent/contact/{contact.pk}/change/",
        {
            "name": NEW_NAME, "language": "de", "time_zone": "Europe/Berlin",
            "attributes": '{"first_name": "Zebedee", "shoe_size": 44}', "tags": [Tag.objects.get(name="vip").pk],
        },  # fmt: skip
    )
    assert change.status_code == 302, change.content
    assert api_client(support).get(f"/api/v1/contacts/{contact.pk}/export").status_code == 200
    contact.refresh_from_db()
    return Person(contact=contact, campaign=campaign, message=message, optin_form=optin_form, ip=person_ip)
