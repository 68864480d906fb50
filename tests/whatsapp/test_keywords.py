"""Opt-out/opt-in/help keywords, Meta's opt-out button and user preferences, through the webhook."""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.tasks import service_message_send_task
from consent.keywords import KeywordAction, keyword_match, optout_button_match
from consent.models import ConsentEvent, ConsentStatus, Contact, Suppression
from consent.selectors import contact_consent_status, contacts_marketable
from consent.services import number_is_suppressed
from conversations.models import InboundMessage
from core.models import AuditEntry
from tests.factories import PHONE, payload, post_webhook

OUT, IN, HELP = KeywordAction.OPT_OUT, KeywordAction.OPT_IN, KeywordAction.HELP


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("STOP", OUT), ("stop", OUT), ("stop!", OUT), (" Stop. ", OUT), ("S.T.O.P", OUT), ("Stop 🛑", OUT),
        ("\tSTOP\n", OUT), ("StopAll", OUT), ("stop all", OUT), ("UNSUBSCRIBE", OUT), ("unsubscribe.", OUT),
        ("Cancel", OUT), ("END", OUT), ("quit", OUT), ("OPTOUT", OUT), ("opt-out", OUT), ("Opt out", OUT),
        ("PARAR", OUT), ("baja", OUT), ("Arrêt", OUT), ("ARRET", OUT), ("stopp", OUT), ("Abmelden!", OUT),
        ("cancelar", OUT),
        ("START", IN), ("start", IN), ("Unstop", IN), ("HELP", HELP), ("help?", HELP), ("Info", HELP),
        ("don't stop the deals", None), ("stopping", None), ("STOP IT", None), ("please stop", None),
        ("stop sending me this", None), ("nonstop", None), ("the end", None), ("restart", None),
        ("", None), ("   ", None), ("!!!", None), ("👍", None), ("Hi, do you ship to Austria?", None),
    ],
)  # fmt: skip
def test_the_keyword_table(text, action):
    assert keyword_match(text) is action


def test_extra_opt_out_words_come_from_the_settings(settings):
    settings.WHATSAPP_OPTOUT_KEYWORDS = ["HALT"]
    assert keyword_match("halt!") is OUT
    assert keyword_match("PARAR") is None  # the setting replaces the default extra list


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("Stop promotions", "Stop promotions"), True), (("STOP_PROMOTIONS", ""), True), (("", "Stop Promotions"), True),
        (("stop promotions from Acme", ""), True), (("", "Werbung stoppen"), True), (("STOP", ""), True),
        (("yes-please", "Yes please"), False), (("Shop now", "Shop now"), False), (("", ""), False),
    ],
)  # fmt: skip
def test_the_opt_out_button_is_matched_defensively(values, expected):
    assert optout_button_match(*values) is expected


@pytest.mark.django_db
def test_a_stop_reply_opts_out_before_the_webhook_is_answered(client, opted_in_contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(client, payload("inbound_text_stop.json"))

    assert response.status_code == 200
    # No worker has run: the opt-out took effect inside the request.
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed(PHONE)
    assert list(contacts_marketable()) == []
    event = opted_in_contact.consent_events.latest("id")
    assert (event.action, event.source) == ("opt_out", "inbound_keyword")
    assert "wamid.ABC" in event.note
    inbound = InboundMessage.objects.get()
    assert (inbound.keyword_action, inbound.answered, inbound.contact) == ("opt_out", True, opted_in_contact)
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    assert reply.contact == opted_in_contact and reply.status == MessageStatus.QUEUED
    assert "no longer receive marketing messages" in reply.body and "START" in reply.body
    assert len(callbacks) == 2  # the delivery's processing task and the reply task
    assert AuditEntry.objects.filter(action="consent.opt_out", object_id=str(opted_in_contact.pk)).exists()


@pytest.mark.django_db
def test_the_confirmation_is_sent_through_the_api_and_gets_statuses(deliver, sandbox, opted_in_contact):
    deliver(payload("inbound_text_stop.json"))
    reply = Message.objects.get(kind=Message.Kind.REPLY)

    service_message_send_task(str(reply.pk))

    reply.refresh_from_db()
    [sent] = sandbox.sends()
    assert (sent["type"], sent["to"], sent["text"]) == ("text", "4915123456789", reply.body)
    assert sent["callback_data"] == reply.callback_data
    assert (reply.status, reply.wamid) == (MessageStatus.ACCEPTED, sent["wamid"])
    service_message_send_task(str(reply.pk))  # a repeated task sends nothing more
    assert len(sandbox.sends()) == 1


@pytest.mark.django_db
def test_a_failed_confirmation_never_loses_the_opt_out(deliver, sandbox, opted_in_contact, settings, caplog):
    deliver(payload("inbound_text_stop.json"))
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    settings.WHATSAPP_ACCESS_TOKEN = "revoked"

    service_message_send_task(str(reply.pk))

    reply.refresh_from_db()
    assert (reply.status, reply.error_code) == (MessageStatus.FAILED, 190)
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert "4915123456789" not in caplog.text


@pytest.mark.django_db
def test_a_transient_failure_of_the_confirmation_is_retried(deliver, sandbox, opted_in_contact):
    from django.utils import timezone

    from campaigns.sending.service import service_message_send, service_messages_sweep

    deliver(payload("inbound_text_stop.json"))
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    sandbox.configure(server_error_rate=1.0)  # WhatsApp answers with its own error: the reply certainly did not go
    service_message_send(message_id=str(reply.pk))
    reply.refresh_from_db()
    assert reply.status == MessageStatus.QUEUED and reply.attempts == 1 and reply.send_after > timezone.now()
    assert service_message_send(message_id=str(reply.pk)).attempts == 1  # not due yet: nothing sent

    sandbox.configure(server_error_rate=0.0)
    Message.objects.filter(pk=reply.pk).update(send_after=timezone.now(), created_at=timezone.now() - timezone.timedelta(minutes=5))
    assert service_messages_sweep() == [str(reply.pk)]  # the sweeper queues it once it is due
    service_message_send(message_id=str(reply.pk))
    reply.refresh_from_db()
    assert reply.status == MessageStatus.ACCEPTED and reply.attempts == 2


@pytest.mark.django_db
def test_start_after_stop_opts_back_in_and_lifts_the_suppression(deliver, opted_in_contact):
    deliver(payload("inbound_text_stop.json"))
    assert number_is_suppressed(PHONE)

    deliver(payload("inbound_text_stop.json", {"wamid.ABC": "wamid.START", "STOP": "Start"}))

    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN
    assert not number_is_suppressed(PHONE)
    assert list(contacts_marketable()) == [opted_in_contact]
    event = opted_in_contact.consent_events.latest("id")
    assert (event.action, event.source, event.notice_text) == ("opt_in", "inbound_keyword", "Start")
    assert "wamid.START" in event.note
    replies = list(Message.objects.filter(kind=Message.Kind.REPLY).order_by("created_at").values_list("body", flat=True))
    assert len(replies) == 2 and "subscribed again" in replies[1]


@pytest.mark.django_db
def test_start_from_someone_who_never_opted_in_changes_nothing(deliver):
    deliver(payload("inbound_text_stop.json", {"STOP": "START"}))

    contact = Contact.objects.get(phone=PHONE)
    assert contact_consent_status(contact) == ConsentStatus.NONE
    assert ConsentEvent.objects.count() == 0
    assert "nothing changed" in Message.objects.get(kind=Message.Kind.REPLY).body
    assert AuditEntry.objects.filter(action="consent.keyword_optin_refused").exists()


@pytest.mark.django_db
def test_start_when_already_subscribed_records_no_second_opt_in(deliver, opted_in_contact):
    deliver(payload("inbound_text_stop.json", {"STOP": "START"}))
    assert opted_in_contact.consent_events.count() == 1
    assert Message.objects.filter(kind=Message.Kind.REPLY).count() == 1


@pytest.mark.django_db
def test_help_gets_the_help_reply_and_an_audit_entry(deliver, opted_in_contact):
    deliver(payload("inbound_text_stop.json", {"STOP": "help"}))

    reply = Message.objects.get(kind=Message.Kind.REPLY)
    assert "Reply STOP" in reply.body and "START" in reply.body
    assert AuditEntry.objects.filter(action="keyword.help", object_id=str(opted_in_contact.pk)).exists()
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["don't stop the deals", "stopping", "STOP IT", "Where is my order?"])
def test_other_messages_change_no_consent_and_wait_for_support(deliver, opted_in_contact, text):
    deliver(payload("inbound_text_stop.json", {"STOP": text}))

    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN
    inbound = InboundMessage.objects.get()
    assert (inbound.text, inbound.keyword_action, inbound.answered) == (text, "", False)
    assert not Message.objects.filter(kind=Message.Kind.REPLY).exists()


@pytest.mark.django_db
def test_metas_opt_out_button_opts_out_at_once(client, opted_in_contact):
    post_webhook(client, payload("inbound_button_stop_promotions.json"))  # no worker run

    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    event = opted_in_contact.consent_events.latest("id")
    assert (event.action, event.source) == ("opt_out", "optout_button")
    assert Suppression.objects.get(number_hash=opted_in_contact.phone_hash).source == "optout_button"
    assert Message.objects.filter(kind=Message.Kind.REPLY).count() == 1


@pytest.mark.django_db
def test_another_button_is_not_an_opt_out(deliver, opted_in_contact):
    deliver(payload("inbound_interactive_button_reply.json"))

    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_IN
    inbound = InboundMessage.objects.get()
    assert (inbound.type, inbound.payload, inbound.text, inbound.context_wamid) == ("interactive", "yes-please", "Yes please", "wamid.XYZ")


@pytest.mark.django_db
def test_a_user_preference_stop_opts_out_at_once_and_resume_changes_nothing(client, deliver, opted_in_contact):
    post_webhook(client, payload("user_preferences_stop.json"))  # no worker run
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert opted_in_contact.consent_events.latest("id").source == "optout_button"

    deliver(payload("user_preferences_resume.json"))
    assert contact_consent_status(opted_in_contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed(PHONE)
    assert AuditEntry.objects.filter(action="whatsapp.marketing_preference_resume").exists()


@pytest.mark.django_db
def test_one_button_press_reported_twice_records_one_opt_out(deliver, opted_in_contact):
    deliver(payload("inbound_button_stop_promotions.json"))
    deliver(payload("user_preferences_stop.json"))

    assert opted_in_contact.consent_events.filter(action="opt_out").count() == 1
    assert Message.objects.filter(kind=Message.Kind.REPLY).count() == 1


@pytest.mark.django_db
def test_an_unknown_sender_becomes_a_contact_without_consent(deliver):
    deliver(payload("inbound_image.json"))

    contact = Contact.objects.get(phone=PHONE)
    assert (contact.name, contact.wa_id) == ("Ana", "4915123456789")
    assert contact_consent_status(contact) == ConsentStatus.NONE
    assert InboundMessage.objects.get().contact == contact


@pytest.mark.django_db
def test_stop_from_an_unknown_sender_suppresses_the_number(deliver):
    deliver(payload("inbound_text_stop.json"))

    contact = Contact.objects.get(phone=PHONE)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed(PHONE)


@pytest.mark.django_db
def test_a_confirmation_whose_task_was_lost_is_queued_again(deliver, sandbox, opted_in_contact):
    from django.utils import timezone

    from campaigns.sending.service import service_messages_sweep

    deliver(payload("inbound_text_stop.json"))
    reply = Message.objects.get(kind=Message.Kind.REPLY)
    assert service_messages_sweep(older_than_seconds=60) == []  # too fresh: its own task may still be coming
    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=5))
    assert service_messages_sweep(older_than_seconds=60) == [str(reply.pk)]


@pytest.mark.django_db
def test_a_stop_from_a_brazilian_whatsapp_id_without_the_ninth_digit_opts_out_the_contact(deliver, contact_factory):
    # WhatsApp names some Brazilian numbers without their ninth digit: +55 11 98765-4321 writes as 551187654321.
    contact = contact_factory("+5511987654321", "Bruna")
    deliver(payload("inbound_text_stop.json", {"4915123456789": "551187654321", "Ana": "Bruna"}))

    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT
    assert number_is_suppressed("+5511987654321")
    assert Contact.objects.count() == 1  # no second, invalid contact for the id
