"""Double opt-in: a web opt-in counts only after the person confirms it on WhatsApp.

Every web opt-in starts as a pending ``OptInConfirmation`` (``confirmation_open``); the person
confirms it with its sign-up code (conversations/join_codes.py) or, when the form has
``double_opt_in`` set, by answering the confirmation template. We send the form's confirmation template with a quick-reply payload naming the pending confirmation; the
person's YES (text) or a press of the template's confirm button grants the consent, with the web
notice as evidence plus the reply's id and time.

The confirmation template's body placeholders are filled from the form, in order: business name,
message description, frequency (positional ``{{1}}``, ``{{2}}``, ``{{3}}``, or the named
placeholders ``business_name``, ``message_description``, ``frequency``). The first QUICK_REPLY
button carries the confirmation payload.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import Message
from campaigns.sending.service import TemplateContent, service_message_queue
from consent import keywords
from consent.models import ConsentSource, Contact, OptInForm
from consent.services import Evidence, consent_grant
from conversations.models import CONFIRM_PAYLOAD_PREFIX, InboundMessage, OptInConfirmation
from core.audit import Actor, audit_record
from whatsapp import template_shape
from whatsapp.models import MessageTemplate

logger = logging.getLogger(__name__)

YES_WORDS = frozenset(keywords.keyword_normalize(w) for w in ("YES", "Y", "CONFIRM", "I CONFIRM", "JA", "SI", "SÍ", "OUI"))
DOUBLE_OPTIN_ACTOR = Actor(label="whatsapp double opt-in")


@dataclass(frozen=True)
class Confirmed:
    confirmation: OptInConfirmation
    reply: str
    action: str = "confirm"  # recorded on the inbound message


@transaction.atomic
def confirmation_open(
    *, form: OptInForm, contact: Contact | None, evidence: Evidence, actor: Actor, number_hash: str = "", join_code_hash: str = ""
) -> OptInConfirmation:
    """Keep a web opt-in's evidence as pending until the person confirms it from WhatsApp."""
    now = timezone.now()
    confirmation = OptInConfirmation.objects.create(
        contact=contact,
        form=form,
        number_hash=number_hash,
        join_code_hash=join_code_hash,
        notice_text=evidence.notice_text or form.notice_text,
        notice_version=evidence.notice_version or form.notice_version,
        page_url=evidence.page_url,
        ip_address=evidence.ip_address or None,
        user_agent=evidence.user_agent[:500],
        actor_label=actor.display[:150],
        requested_at=now,
        expires_at=now + timedelta(days=settings.WHATSAPP_OPTIN_CONFIRMATION_DAYS),
    )
    audit_record(
        actor=actor, action="consent.optin_requested", object_type="contact", object_id=contact.pk if contact else "",
        details={"form": form.slug, "confirmation": str(confirmation.pk)},
    )  # fmt: skip
    return confirmation


@transaction.atomic
def confirmation_template_queue(confirmation: OptInConfirmation, *, actor: Actor) -> None:
    """Queue the form's confirmation template to the pending opt-in's contact (sent after commit)."""
    form, contact = confirmation.form, confirmation.contact
    if contact is None:  # a blocked number has no contact until the person confirms: nothing to send to
        raise ValueError(f"Opt-in confirmation {confirmation.pk} has no contact to send its template to.")
    confirmation.message = service_message_queue(
        contact=contact,
        kind=Message.Kind.CONFIRMATION,
        template=TemplateContent(
            name=form.confirmation_template,
            language=form.confirmation_template_language,
            components=confirmation_components(confirmation),
        ),
        decision={"double_opt_in": str(confirmation.pk), "template": form.confirmation_template},
        phone_number_id=form.phone_number_id,  # the page's number: the person's YES comes back to it
    )
    confirmation.save(update_fields=["message"])
    audit_record(
        actor=actor, action="consent.double_optin_requested", object_type="contact", object_id=contact.pk,
        details={"form": form.slug, "confirmation": str(confirmation.pk)},
    )  # fmt: skip


@transaction.atomic
def double_optin_start(*, form: OptInForm, contact: Contact, evidence: Evidence, actor: Actor) -> OptInConfirmation:
    """Keep the web opt-in's evidence as pending and queue the confirmation template in the outbox."""
    confirmation = confirmation_open(form=form, contact=contact, evidence=evidence, actor=actor)
    confirmation_template_queue(confirmation, actor=actor)
    return confirmation


def confirmation_components(confirmation: OptInConfirmation) -> list[dict]:
    """Template parameters for the confirmation: form facts in the body, our payload on the button."""
    form = confirmation.form
    stored = MessageTemplate.objects.filter(
        name=form.confirmation_template, language=form.confirmation_template_language
    ).first()
    template_components = stored.components if stored else []
    values = {"business_name": form.business_name, "message_description": form.message_description, "frequency": form.frequency}
    components: list[dict] = []
    names = template_shape.body_parameter_names(template_components)
    if names:
        ordered = list(values.values())
        parameters = []
        for position, name in enumerate(names):
            parameter = {"type": "text", "text": values.get(name) or (ordered[position] if position < len(ordered) else "-")}
            if not name.isdigit():
                parameter["parameter_name"] = name
            parameters.append(parameter)
        components.append({"type": "body", "parameters": parameters})
    quick_replies = template_shape.quick_reply_indexes(template_components) or [0]
    components.append(
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(quick_replies[0]),
            "parameters": [{"type": "payload", "payload": confirmation.button_payload}],
        }
    )
    return components


def _pending_for(contact: Contact, inbound: InboundMessage) -> OptInConfirmation | None:
    now = timezone.now()
    # Only requests whose template was sent: a YES answers our question, never a request the person
    # was not asked about (a web opt-in without a template waits for its sign-up code).
    open_ones = OptInConfirmation.objects.select_for_update(of=("self",)).select_related("form__purpose").filter(
        contact=contact, confirmed_at__isnull=True, expires_at__gt=now, message__isnull=False
    )
    if inbound.payload.startswith(CONFIRM_PAYLOAD_PREFIX):
        confirmation_id = _uuid_or_none(inbound.payload[len(CONFIRM_PAYLOAD_PREFIX) :])
        return open_ones.filter(pk=confirmation_id).first() if confirmation_id else None
    answer = keywords.keyword_normalize(inbound.text or inbound.payload)
    if inbound.type in ("text", "button", "interactive") and answer in YES_WORDS:
        return open_ones.order_by("-requested_at").first()
    return None


def _uuid_or_none(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@transaction.atomic
def double_optin_confirm(*, contact: Contact, inbound: InboundMessage) -> Confirmed | None:
    """Grant the consent of a pending confirmation that this inbound message confirms, if any."""
    confirmation = _pending_for(contact, inbound)
    if confirmation is None:
        return None
    return confirmation_grant(confirmation, contact=contact, inbound=inbound, how="WhatsApp reply")


def confirmation_grant(confirmation: OptInConfirmation, *, contact: Contact, inbound: InboundMessage, how: str) -> Confirmed:
    """The person confirmed from WhatsApp: the web evidence plus their message become the opt-in.

    Source web_form: the person's own act, so it lifts an earlier opt-out's suppression.
    """
    confirmed_at = min(inbound.sent_at, timezone.now())
    event = consent_grant(
        contact=contact,
        source=ConsentSource.WEB_FORM,
        purpose=confirmation.form.purpose.code,
        evidence=Evidence(
            notice_text=confirmation.notice_text,
            notice_version=confirmation.notice_version,
            page_url=confirmation.page_url,
            ip_address=confirmation.ip_address,
            user_agent=confirmation.user_agent,
            note=f"confirmed via {how} at {confirmed_at.isoformat()} (reply id {inbound.wamid})",
        ),
        actor=DOUBLE_OPTIN_ACTOR,
    )
    confirmation.contact = contact
    confirmation.confirmed_at = confirmed_at
    confirmation.confirmed_by_wamid = inbound.wamid
    confirmation.consent_event = event
    confirmation.save(update_fields=["contact", "confirmed_at", "confirmed_by_wamid", "consent_event"])
    reply = (
        f"Thank you! Your subscription to {confirmation.form.business_name} is confirmed. "
        "Reply STOP at any time to unsubscribe."
    )
    return Confirmed(confirmation=confirmation, reply=reply)
