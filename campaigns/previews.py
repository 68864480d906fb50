"""What a campaign's message looks like to one person, and the marketer's test send of it.

``message_preview`` renders the template (header, body, footer, buttons) with the parameter values
the database computes for a contact, exactly as the sender computes them. ``campaign_test_send``
sends that message to the marketer's own number (their StaffTestNumber), which must hold an
active opt-in like anyone else's; the send is recorded as a Message of kind ``test`` that counts
toward no campaign figure and no frequency cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus, StaffTestNumber
from campaigns.parameters import (
    MEDIA_KINDS,
    parameter_expressions,
    parameter_values,
    template_components,
    template_fill,
    template_render_body,
    template_slots,
    template_values,
)
from campaigns.sending.service import TemplateContent, service_message_queue, service_message_send
from campaigns.tracking import click_token
from consent.models import Contact
from consent.selectors import contacts_marketable
from core.audit import Actor, audit_record
from core.logging import mask_phone
from whatsapp import template_shape
from whatsapp.models import MessageTemplate


class TestSendRefused(ValueError):
    """The test send cannot go out; the message says why and what to do."""


@dataclass
class MessagePreview:
    header: str = ""
    # A media header as the phone shows it: {"kind": "image", "link": "https://..."}.
    header_media: dict[str, str] = field(default_factory=dict)
    body: str = ""
    footer: str = ""
    buttons: list[dict[str, str]] = field(default_factory=list)
    offer: dict[str, str] = field(default_factory=dict)  # a limited-time offer: text, expires_at, coupon code
    cards: list[dict[str, Any]] = field(default_factory=list)
    values: list[str | None] = field(default_factory=list)

    @property
    def missing(self) -> list[int]:
        """Positions (0-based) of parameters with no value for this contact and no fallback."""
        return [index for index, value in enumerate(self.values) if value is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "header": self.header, "header_media": self.header_media, "body": self.body, "footer": self.footer,
            "buttons": self.buttons, "offer": self.offer, "cards": self.cards, "missing": self.missing,
        }  # fmt: skip


def _buttons_preview(buttons: list[dict], *, tracked_url: str, coupon_code: str | None = None) -> list[dict[str, str]]:
    shown = []
    for button in buttons:
        kind = str(button.get("type", "")).lower()
        url = button.get("url", "")
        if url and "{{" in url:
            url = f"{tracked_url} (tracked)" if tracked_url else "no destination set"
        text = button.get("text", "") or ("Copy offer code" if kind == "copy_code" else "")
        entry = {"type": kind, "text": text, "url": url}
        if kind == "copy_code":
            entry["code"] = coupon_code or "[missing coupon code]"
        shown.append(entry)
    return shown


def _media_preview(kind: str, link: str | None) -> dict[str, str]:
    return {"kind": kind, "link": link or ""}


def contact_parameter_values(parameters: list[dict], contact: Contact | None) -> list[str | None]:
    """The values the sender would fill in for ``contact`` (one query); constants only without a contact."""
    expressions = parameter_expressions(parameters)
    row: dict[str, Any] = {}
    if contact is not None and expressions:
        row = Contact.objects.filter(pk=contact.pk).annotate(**expressions).values(*expressions).first() or {}
    return parameter_values(parameters, row)


def message_preview(*, template: MessageTemplate, parameters: list[dict], contact: Contact | None, tracked_url: str = "") -> MessagePreview:
    """The message as ``contact`` would see it. The mapping must fit the template (see parameters_validate)."""
    values = contact_parameter_values(parameters, contact)
    by_slot = template_values(template, values)
    shape = list(template.components or [])
    preview = MessagePreview(body=template_render_body(template, values), values=values)
    header_names = template_shape.header_parameter_names(shape)
    preview.header = template_fill(template_shape.header_text(shape), header_names, [by_slot.get(f"header.{i}") for i in range(len(header_names))])
    media = template_shape.header_format(shape).lower()
    if media in MEDIA_KINDS:
        preview.header_media = _media_preview(media, by_slot.get("header.media"))
    preview.footer = template_shape.component_text(shape, "FOOTER")
    preview.buttons = _buttons_preview(template_shape.buttons(shape), tracked_url=tracked_url, coupon_code=by_slot.get("coupon_code"))
    offer = template_shape.limited_time_offer(shape)
    if offer is not None:
        expiry = by_slot.get("limited_time_offer")
        expires_at = datetime.fromtimestamp(int(expiry) / 1000, tz=UTC).isoformat() if expiry else ""
        preview.offer = {"text": str(offer.get("text", "")), "expires_at": expires_at}
    for index, card in enumerate(template_shape.carousel_cards(shape)):
        names = template_shape.body_parameter_names(card)
        card_media = template_shape.header_format(card).lower()
        preview.cards.append({
            "header_media": _media_preview(card_media, by_slot.get(f"card.{index}.header.media")) if card_media in MEDIA_KINDS else {},
            "body": template_fill(template_shape.component_text(card, "BODY"), names, [by_slot.get(f"card.{index}.body.{i}") for i in range(len(names))]),
            "buttons": _buttons_preview(template_shape.buttons(card), tracked_url=tracked_url),
        })  # fmt: skip
    return preview


def _refusal_if_unsendable(campaign: Campaign, contact: Contact) -> str | None:
    template = campaign.template
    if template is None:
        return "Choose a template first."
    if not template.is_sendable:
        return f"Template {template} is {template.get_status_display().lower()} at WhatsApp; only approved templates can be sent."
    if not contacts_marketable(Contact.objects.filter(pk=contact.pk)).exists():
        return (
            f"Your test number {mask_phone(contact.phone or '')} has no active marketing opt-in, so nothing is sent to it. "
            "Opt in like a customer would (the opt-in page, or reply START on WhatsApp) and try again."
        )
    return None


def campaign_test_send(*, campaign: Campaign, actor: Actor) -> Message:
    """Send the campaign's message to the actor's own opted-in number; raises TestSendRefused.

    Returns the test Message, accepted by WhatsApp. A refusal by WhatsApp is recorded on the
    message and raised with WhatsApp's reason.
    """
    user = actor.user if isinstance(actor.user, User) else None
    link = StaffTestNumber.objects.select_related("contact").filter(user=user).first() if user else None
    if link is None:
        raise TestSendRefused(
            "No test number is linked to your account. Ask an administrator to add yours under "
            "Campaigns › Staff test numbers (your own contact, opted in like a customer)."
        )
    contact = link.contact
    refusal = _refusal_if_unsendable(campaign, contact)
    if refusal:
        raise TestSendRefused(refusal)
    template = campaign.template_chosen()
    values = contact_parameter_values(campaign.parameters, contact)
    missing = [slot.label for slot, value in zip(template_slots(template.components, template.parameter_names), values, strict=False) if value is None]
    if missing:
        raise TestSendRefused(f"Your contact has no value for {', '.join(missing)} and the mapping gives no fallback.")
    with transaction.atomic():
        message = service_message_queue(
            contact=contact,
            kind=Message.Kind.TEST,
            template=TemplateContent(name=template.name, language=template.language, components=[]),
            decision={"reason": "test send", "campaign": campaign.pk, "campaign_name": campaign.name,
                      "sent_by": actor.display, "parameters": values},
            send_after_commit=False,  # sent below, while the marketer waits for the answer
            phone_number_id=campaign.phone_number_id,  # from the number the campaign goes out from
        )  # fmt: skip
        # The tracked button carries this test message's own token: its clicks are counted as a test's.
        token = click_token(message_id=message.pk, campaign_id=campaign.pk) if campaign.tracked_url else message.pk.hex
        message.content = TemplateContent(
            name=template.name, language=template.language, components=template_components(template, values, link_token=token)
        ).as_json()
        message.save(update_fields=["content"])
        audit_record(actor=actor, action="campaign.test_send", object_type="campaign", object_id=campaign.pk, details={"test_message": str(message.pk)})

    message = service_message_send(message_id=message.pk) or message
    if message.status == MessageStatus.QUEUED:
        # A test is not retried behind the marketer's back: they see the reason and press again.
        Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(status=MessageStatus.FAILED, failed_at=timezone.now())
        reason = message.error_title or "WhatsApp is briefly unavailable"
        raise TestSendRefused(f"WhatsApp did not take the test message this time ({reason}). Try again in a moment.")
    if message.status == MessageStatus.UNKNOWN:
        raise TestSendRefused(
            "WhatsApp did not answer in time: the test message may still arrive. It is not sent again; "
            "its status shows here once WhatsApp reports it."
        )
    if message.status == MessageStatus.FAILED:
        raise TestSendRefused(f"WhatsApp refused the test message: {message.error_title or 'no reason given'} (error {message.error_code}).")
    return message
