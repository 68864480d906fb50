"""Proven opt-in: a web sign-up counts only once the person confirms it from the number they typed.

Through the public interfaces: the opt-in page (Django test client), the person's WhatsApp messages
(signed webhooks to /webhooks/whatsapp) and the confirmation template (the sandbox).
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaigns.models import Message
from campaigns.tasks import service_message_send_task
from consent.ledger import ledger_verify
from consent.models import ConsentEvent, ConsentStatus, Contact, OptInForm, Suppression
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import number_is_suppressed
from conversations.models import InboundMessage, OptInConfirmation
from tests.factories import NOTICE_TEXT, client_for, new_visitor_ip, payload
from tests.optin_helpers import join_text_shown, new_person_number, whatsapp_text

pytestmark = pytest.mark.django_db

PAGE = "/optin/acme/"
AGENT = "Mozilla/5.0 (Android 14; Mobile)"


@pytest.fixture
def number() -> str:
    return new_person_number()


@pytest.fixture
def visitor() -> Client:
    return Client(REMOTE_ADDR=new_visitor_ip(), HTTP_USER_AGENT=AGENT)


def sign_up(client: Client, phone: str, slug: str = "acme"):
    return client.post(f"/optin/{slug}/", {"phone": phone, "consent": "yes", "notice_version": "2026-11"})


def latest_reply() -> str:
    return Message.objects.filter(kind=Message.Kind.REPLY).latest("created_at").body


def stop(deliver, phone: str) -> None:  # noqa: F811
    deliver(whatsapp_text("STOP", phone=phone, wamid=f"wamid.STOP{phone}"))
    assert number_is_suppressed(phone)


def test_a_form_submission_alone_never_makes_anyone_eligible(visitor, optin_form, number):  # noqa: F811
    assert sign_up(visitor, number).status_code == 302

    contact = Contact.objects.get(phone=number)
    assert contact_consent_status(contact) == ConsentStatus.NONE
    assert not contacts_marketable().filter(pk=contact.pk).exists()
    assert not ConsentEvent.objects.exists()


def test_the_code_sent_from_the_same_number_grants_consent_with_the_page_evidence(visitor, optin_form, number, deliver):  # noqa: F811
    text = join_text_shown(visitor, sign_up(visitor, number))
    assert re.fullmatch(r"JOIN ACME \d{6}", text)

    response = deliver(whatsapp_text(text, phone=number, wamid="wamid.JOIN1"))

    assert response.status_code == 200
    contact = Contact.objects.get(phone=number)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN
    assert list(contacts_marketable()) == [contact]
    event = ConsentEvent.objects.get()
    assert (event.action, event.source, event.contact) == ("opt_in", "web_form", contact)
    assert (event.notice_text, event.notice_version) == (NOTICE_TEXT, "2026-11")
    assert (event.page_url, event.user_agent) == ("http://testserver/optin/acme/", AGENT)
    assert event.ip_address == visitor.defaults["REMOTE_ADDR"]
    assert "wamid.JOIN1" in event.note and "sign-up code" in event.note
    assert OptInConfirmation.objects.get().consent_event == event
    assert InboundMessage.objects.get(wamid="wamid.JOIN1").keyword_action == "confirm"
    assert "is confirmed" in latest_reply()
    assert ledger_verify().intact


def test_the_code_is_read_however_it_is_typed(visitor, optin_form, number, deliver):  # noqa: F811
    code = join_text_shown(visitor, sign_up(visitor, number)).split()[-1]

    deliver(whatsapp_text(f"  join  acme shoes {code}! ", phone=number, wamid="wamid.JOIN2"))

    assert contact_consent_status(Contact.objects.get(phone=number)) == ConsentStatus.OPTED_IN


def test_a_code_sent_from_another_number_confirms_nothing(visitor, optin_form, number, deliver):  # noqa: F811
    text = join_text_shown(visitor, sign_up(visitor, number))
    other = new_person_number()

    deliver(whatsapp_text(text, phone=other, wamid="wamid.OTHER"))

    assert not ConsentEvent.objects.exists()
    assert contact_consent_status(Contact.objects.get(phone=other)) == ConsentStatus.NONE
    assert InboundMessage.objects.get(wamid="wamid.OTHER").keyword_action == "join_refused"
    assert "does not match a sign-up for this number" in latest_reply()

    # Still open for the person whose number it is.
    deliver(whatsapp_text(text, phone=number, wamid="wamid.MINE"))
    assert contact_consent_status(Contact.objects.get(phone=number)) == ConsentStatus.OPTED_IN


def test_an_expired_code_confirms_nothing_and_the_timeline_says_so(visitor, optin_form, number, deliver, support):  # noqa: F811
    text = join_text_shown(visitor, sign_up(visitor, number))
    OptInConfirmation.objects.update(expires_at=timezone.now() - timezone.timedelta(minutes=1))

    deliver(whatsapp_text(text, phone=number, wamid="wamid.LATE"))

    contact = Contact.objects.get(phone=number)
    assert contact_consent_status(contact) == ConsentStatus.NONE
    assert "does not match a sign-up for this number" in latest_reply()
    timeline = client_for(support).get(f"/admin/support/people/{contact.pk}/").content.decode()
    assert "rt-entry-optin_request" in timeline
    assert re.search(r"<strong>expired</strong> unconfirmed on [\d-]+ [\d:]+ UTC: never counted as consent", timeline)


def test_a_pending_sign_up_shows_on_the_timeline_as_pending_then_confirmed(visitor, optin_form, number, deliver, support):  # noqa: F811
    text = join_text_shown(visitor, sign_up(visitor, number))
    contact = Contact.objects.get(phone=number)
    timeline = client_for(support).get(f"/admin/support/people/{contact.pk}/").content.decode()
    assert "<strong>pending</strong>: waits for the person's confirmation from WhatsApp" in timeline

    deliver(whatsapp_text(text, phone=number, wamid="wamid.OK"))

    timeline = client_for(support).get(f"/admin/support/people/{contact.pk}/").content.decode()
    assert "<strong>confirmed</strong> from WhatsApp" in timeline


def test_a_code_counts_once_even_after_the_person_opted_out(visitor, optin_form, number, deliver):  # noqa: F811
    text = join_text_shown(visitor, sign_up(visitor, number))
    deliver(whatsapp_text(text, phone=number, wamid="wamid.FIRST"))
    stop(deliver, number)

    deliver(whatsapp_text(text, phone=number, wamid="wamid.AGAIN"))

    contact = Contact.objects.get(phone=number)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed(number)
    assert contact.consent_events.filter(action="opt_in").count() == 1
    assert InboundMessage.objects.get(wamid="wamid.AGAIN").keyword_action == "join_refused"


def test_guessing_codes_stops_at_the_hourly_limit(visitor, optin_form, number, deliver, settings):  # noqa: F811
    settings.WHATSAPP_JOIN_ATTEMPTS_PER_HOUR = 3
    code = join_text_shown(visitor, sign_up(visitor, number)).split()[-1]
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in (1, 2, 3)]
    for n, guess in enumerate(wrong):
        deliver(whatsapp_text(f"JOIN ACME {guess}", phone=number, wamid=f"wamid.GUESS{n}"))

    deliver(whatsapp_text(f"JOIN ACME {code}", phone=number, wamid="wamid.RIGHT"))

    assert contact_consent_status(Contact.objects.get(phone=number)) == ConsentStatus.NONE
    assert "Too many sign-up codes from this number" in latest_reply()


def test_a_right_code_is_never_held_back_by_earlier_confirmations(optin_form, number, deliver, settings):  # noqa: F811
    settings.WHATSAPP_JOIN_ATTEMPTS_PER_HOUR = 1
    for n in range(3):  # signs up again and again, confirming each time
        visitor = Client(REMOTE_ADDR=new_visitor_ip())
        deliver(whatsapp_text(join_text_shown(visitor, sign_up(visitor, number)), phone=number, wamid=f"wamid.OK{n}"))

    assert OptInConfirmation.objects.filter(confirmed_at__isnull=False).count() == 3


def test_a_suppressed_numbers_sign_up_changes_nothing_until_its_code_lifts_the_suppression(visitor, optin_form, number, deliver):  # noqa: F811
    stop(deliver, number)
    contact = Contact.objects.get(phone=number)
    before = (
        list(ConsentEvent.objects.values_list("pk", flat=True)), list(Suppression.objects.values("number_hash", "lifted_at")),
        list(Contact.objects.values()), Message.objects.count(),
    )  # fmt: skip

    text = join_text_shown(visitor, sign_up(visitor, number))

    after = (
        list(ConsentEvent.objects.values_list("pk", flat=True)), list(Suppression.objects.values("number_hash", "lifted_at")),
        list(Contact.objects.values()), Message.objects.count(),
    )  # fmt: skip
    assert after == before
    assert number_is_suppressed(number) and contact_consent_status(contact) == ConsentStatus.OPTED_OUT

    deliver(whatsapp_text(text, phone=number, wamid="wamid.BACK"))

    assert not number_is_suppressed(number)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN
    assert list(contacts_marketable()) == [contact]
    assert contact.consent_events.latest("pk").source == "web_form"


def test_an_erased_numbers_sign_up_creates_no_one_until_the_person_confirms(visitor, optin_form, number, deliver, api_client, support):  # noqa: F811
    stop(deliver, number)
    erased = Contact.objects.get(phone=number)
    assert api_client(support).post(f"/api/v1/contacts/{erased.pk}/erase", {}, format="json").status_code == 200

    text = join_text_shown(visitor, sign_up(visitor, number))
    assert not Contact.objects.filter(phone=number).exists()

    deliver(whatsapp_text(text, phone=number, wamid="wamid.NEW"))

    contact = Contact.objects.get(phone=number)
    assert contact.pk != erased.pk and contact_consent_status(contact) == ConsentStatus.OPTED_IN
    assert not number_is_suppressed(number)


def _answer_page(client: Client, number: str, slug: str = "acme") -> tuple[int, str, str]:
    answer = sign_up(client, number, slug)
    page = client.get(answer["Location"])
    html = re.sub(r"(JOIN(?: |%20)ACME(?: |%20))\d{6}\b", r"\1CODE", page.content.decode())
    html = re.sub(r"<svg .*?</svg>", "QR", html, flags=re.DOTALL)
    return answer.status_code, answer["Location"], f"{page.status_code} {html}"


@pytest.mark.parametrize("double_opt_in", [False, True])
def test_the_answer_is_the_same_for_a_new_known_opted_in_opted_out_or_erased_number(
    optin_form, deliver, api_client, support, double_opt_in  # noqa: F811
):
    OptInForm.objects.filter(pk=optin_form.pk).update(
        double_opt_in=double_opt_in, confirmation_template="optin_confirmation", confirmation_template_language="en_US"
    )
    new, known, opted_in, opted_out, erased = (new_person_number() for _ in range(5))
    deliver(whatsapp_text("Hello?", phone=known, wamid="wamid.KNOWN"))
    person = Client(REMOTE_ADDR=new_visitor_ip())
    deliver(whatsapp_text(join_text_shown(person, sign_up(person, opted_in)), phone=opted_in, wamid="wamid.IN"))
    stop(deliver, opted_out)
    stop(deliver, erased)
    gone = Contact.objects.get(phone=erased)
    assert api_client(support).post(f"/api/v1/contacts/{gone.pk}/erase", {}, format="json").status_code == 200

    answers = {number: _answer_page(Client(REMOTE_ADDR=new_visitor_ip()), number) for number in (new, known, opted_in, opted_out, erased)}

    assert len(set(answers.values())) == 1, answers
    status, location, page = answers[new]
    assert (status, location) == (302, "/optin/acme/confirm/" if double_opt_in else "/optin/acme/thanks/")
    assert 'id="join-text">JOIN ACME CODE<' in page and "wa.me/15550001111?text=JOIN%20ACME%20CODE" in page


def test_the_double_optin_template_still_confirms(optin_form, number, sandbox, deliver):  # noqa: F811
    call_command("sync_templates")
    OptInForm.objects.filter(pk=optin_form.pk).update(
        double_opt_in=True, confirmation_template="optin_confirmation", confirmation_template_language="en_US"
    )
    visitor = Client(REMOTE_ADDR=new_visitor_ip())
    answer = sign_up(visitor, number)
    assert answer["Location"] == "/optin/acme/confirm/"
    page = visitor.get(answer["Location"]).content.decode()
    assert "answering YES there works too" in page and 'id="join-text">JOIN ACME' in page

    confirmation = OptInConfirmation.objects.get()
    service_message_send_task(str(confirmation.message_id))
    [sent] = sandbox.sends()
    assert sent["template"]["name"] == "optin_confirmation"
    assert contact_consent_status(confirmation.contact) == ConsentStatus.NONE

    press = payload("inbound_button_stop_promotions.json", {"wamid.BTN": "wamid.PRESS", "wamid.XYZ": sent["wamid"], "4915123456789": number.lstrip("+")})
    press["entry"][0]["changes"][0]["value"]["messages"][0]["button"] = {"payload": confirmation.button_payload, "text": "Confirm"}
    deliver(press)

    assert contact_consent_status(confirmation.contact) == ConsentStatus.OPTED_IN
    event = confirmation.contact.consent_events.get()
    assert event.source == "web_form" and "wamid.PRESS" in event.note


def test_a_suppressed_number_gets_no_confirmation_template(optin_form, number, deliver):  # noqa: F811
    OptInForm.objects.filter(pk=optin_form.pk).update(
        double_opt_in=True, confirmation_template="optin_confirmation", confirmation_template_language="en_US"
    )
    stop(deliver, number)

    sign_up(Client(REMOTE_ADDR=new_visitor_ip()), number)

    assert not Message.objects.filter(kind=Message.Kind.CONFIRMATION).exists()
    # And a YES cannot confirm a request the person was never asked about.
    deliver(whatsapp_text("YES", phone=number, wamid="wamid.YES"))
    assert number_is_suppressed(number)
