"""The hosted opt-in page's submissions."""

from __future__ import annotations

import enum

from django.db import transaction

from consent.models import ConsentSource, OptInForm
from consent.services import Evidence, consent_grant, contact_upsert
from conversations.double_optin import double_optin_start
from core.audit import Actor


class OptInOutcome(enum.Enum):
    OPTED_IN = "opted_in"
    CONFIRMATION_SENT = "confirmation_sent"


@transaction.atomic
def optin_page_submit(*, form: OptInForm, phone: str, evidence: Evidence, actor: Actor) -> OptInOutcome:
    """A person asked for messages on a hosted opt-in page.

    With double opt-in the consent only starts once they confirm on WhatsApp, so nothing is granted
    here; otherwise the opt-in is recorded with the page as its evidence.
    """
    contact, _ = contact_upsert(phone=phone)
    if form.double_opt_in:
        double_optin_start(form=form, contact=contact, evidence=evidence, actor=actor)
        return OptInOutcome.CONFIRMATION_SENT
    consent_grant(contact=contact, source=ConsentSource.WEB_FORM, purpose=form.purpose.code, evidence=evidence, actor=actor)
    return OptInOutcome.OPTED_IN
