"""The hosted opt-in page's submissions: pending until the person confirms from their WhatsApp number.

A form proves only that someone typed a number, so a submission grants nothing. It keeps the
page's evidence as a pending ``OptInConfirmation`` with a one-time sign-up code; the consent starts
when the person sends that code from the number (conversations/join_codes.py) or answers the
confirmation template of a double opt-in form (conversations/double_optin.py).

For a number that opted out, is suppressed or was erased, the submission changes nothing at all
(no contact is created or updated, no template is sent): only the person's own confirmation from
WhatsApp counts, and that lifts the suppression. The visitor gets the same answer for every
number, so the page does not tell who is known or opted out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from consent.models import ConsentStatus, Contact, OptInForm
from consent.phones import phone_normalize
from consent.selectors import contact_consent_status
from consent.services import Evidence, contact_upsert, number_is_suppressed, suppression_hash
from conversations.double_optin import confirmation_open, confirmation_template_queue
from conversations.join_codes import join_code_new
from conversations.models import OptInConfirmation
from core.audit import Actor


@dataclass(frozen=True)
class OptInRequest:
    """What the thank-you page shows: the sign-up code (only here in clear) and until when it works."""

    confirmation: OptInConfirmation
    code: str
    expires_at: datetime


@transaction.atomic
def optin_page_submit(*, form: OptInForm, phone: str, evidence: Evidence, actor: Actor) -> OptInRequest:
    """A person asked for messages on a hosted opt-in page: keep it pending until they confirm."""
    e164 = phone_normalize(phone)
    purpose = form.purpose.code
    contact = Contact.objects.filter(phone=e164, erased_at__isnull=True).first()
    blocked = number_is_suppressed(e164) or (contact is not None and contact_consent_status(contact, purpose) == ConsentStatus.OPTED_OUT)
    if not blocked:
        contact, _ = contact_upsert(phone=e164)
    code, code_hash = join_code_new()
    confirmation = confirmation_open(
        form=form, contact=contact, evidence=evidence, actor=actor, number_hash=suppression_hash(e164), join_code_hash=code_hash
    )
    # The template goes only to a number that may get it and is not subscribed already.
    if form.double_opt_in and contact is not None and not blocked and contact_consent_status(contact, purpose) != ConsentStatus.OPTED_IN:
        confirmation_template_queue(confirmation, actor=actor)
    return OptInRequest(confirmation=confirmation, code=code, expires_at=confirmation.expires_at)
