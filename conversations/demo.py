"""Demo data of the conversations layer (`make run`): confirmed web opt-ins, replies and opt-outs after the
finished campaign, and an inbox with one message still waiting for an answer. Every function is idempotent.

Web opt-ins go the way a person's do: the opt-in page, then their sign-up code message from WhatsApp.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from campaigns.models import Message
from consent.models import ConsentSource, ConsentState, Contact, OptInForm
from consent.services import Evidence, consent_revoke
from conversations.join_codes import join_code_handle, join_message_text
from conversations.models import InboundMessage
from conversations.optin import optin_page_submit
from core.audit import Actor

DEMO_SEED = 15
REPLIES = (
    "Gibt es den auch in Größe 44?",
    "Ist der Code auch im Laden gültig?",
    "Super, gerade bestellt!",
    "Wie lange dauert der Versand nach Österreich?",
    "Habt ihr den auch in Schwarz?",
)
WAITING_QUESTION = "Hallo, mein Trail Runner ist zu klein. Kann ich ihn gegen 43 tauschen?"
WAITING_WAMID = "wamid.demo.in.waiting"


def _inbound(contact: Contact, *, wamid: str, text: str, sent_at: datetime, answered: bool, **fields: str) -> InboundMessage:
    """A message the person sent us, stored as the webhook stores it (it opens their 24-hour window)."""
    message, _ = InboundMessage.objects.get_or_create(
        wamid=wamid,
        defaults={
            "contact": contact, "from_wa_id": (contact.phone or "").lstrip("+"), "type": "text", "text": text,
            "sent_at": sent_at, "received_at": sent_at + timedelta(seconds=1), "answered": answered, **fields,
        },
    )  # fmt: skip
    if contact.last_inbound_at is None or contact.last_inbound_at < sent_at:
        Contact.objects.filter(pk=contact.pk).update(last_inbound_at=sent_at)
        contact.last_inbound_at = sent_at
    return message


def demo_web_opt_ins(form: OptInForm, people: list[Contact], *, now: datetime) -> int:
    """People without consent sign up on the opt-in page and confirm with their sign-up code from WhatsApp."""
    opted = set(ConsentState.objects.filter(contact__in=people).values_list("contact_id", flat=True))
    confirmed = 0
    for contact in people:
        if contact.pk in opted or not contact.phone:
            continue
        request = optin_page_submit(
            form=form,
            phone=contact.phone,
            evidence=Evidence(
                notice_text=form.notice_text, notice_version=form.notice_version,
                page_url=f"http://127.0.0.1:8000/optin/{form.slug}/", ip_address="203.0.113.15", user_agent="Demo browser",
            ),  # fmt: skip
            actor=Actor(label=f"opt-in page {form.slug}"),
        )
        inbound = _inbound(
            contact, wamid=f"wamid.demo.join.{contact.pk}.{request.confirmation.pk}", text=join_message_text(form, request.code),
            sent_at=now, answered=True,  # the confirmation answered it
        )  # fmt: skip
        if join_code_handle(contact=contact, inbound=inbound) is not None:
            confirmed += 1
    return confirmed


def demo_replies_and_opt_outs(messages: list[Message]) -> tuple[int, int]:
    """Some people who read the finished campaign wrote back (answered by support), a few replied STOP."""
    read = [message for message in messages if message.read_at is not None]
    rng = random.Random(DEMO_SEED + 4)
    replies = opt_outs = 0
    for message in read:
        roll = rng.random()
        at = (message.read_at or message.accepted_at or message.created_at) + timedelta(minutes=rng.uniform(1, 90))
        if roll < 0.03:
            stop = _inbound(
                message.contact, wamid=f"wamid.demo.in.stop.{message.pk}", text="STOP", sent_at=at, answered=True,
                context_wamid=message.wamid or "", keyword_action="opt_out",
            )  # fmt: skip
            if ConsentState.objects.filter(contact=message.contact, status="opted_out").exists():
                continue
            consent_revoke(
                contact=message.contact,
                source=ConsentSource.INBOUND_KEYWORD,
                evidence=Evidence(note=f"replied STOP to the campaign message (reply id {stop.wamid})"),
                occurred_at=at,
                actor=Actor(label="keyword STOP"),
            )
            opt_outs += 1
        elif roll < 0.10:
            _inbound(
                message.contact, wamid=f"wamid.demo.in.reply.{message.pk}", text=rng.choice(REPLIES), sent_at=at, answered=True,
                context_wamid=message.wamid or "",
            )  # fmt: skip
            replies += 1
    return replies, opt_outs


def demo_inbox(person: Contact, *, now: datetime) -> InboundMessage:
    """One question from this morning nobody has answered yet: the inbox shows it at the top."""
    return _inbound(person, wamid=WAITING_WAMID, text=WAITING_QUESTION, sent_at=now - timedelta(hours=3), answered=False)
