"""Unsubscribe links: ``/u/<token>`` lets a person opt out of marketing with one confirmation.

The token names the contact, signed with a salt of its own (see consent.tokens), so it cannot
be guessed from a contact id nor reused from a tracked link. Support can hand the link to a
person (it is shown on the person's timeline); confirming records an opt-out with the source
``unsubscribe_link`` and the page, address and browser as evidence.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from consent.models import ConsentSource, ConsentStatus, Contact
from consent.selectors import contact_consent_status
from consent.services import Evidence, consent_revoke, contact_is_suppressed
from core.audit import Actor
from core.tokens import token_sign, token_unsign

UNSUBSCRIBE_SALT = "consent.unsubscribe"


def unsubscribe_token(contact: Contact) -> str:
    return token_sign(contact.pk.to_bytes(8, "big"), salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(contact: Contact) -> str:
    """The absolute link to send the person (built on PUBLIC_BASE_URL)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("unsubscribe", args=[unsubscribe_token(contact)])


def unsubscribe_contact(token: str) -> Contact | None:
    """The contact a token was made for; None for a forged or garbled token or an unknown contact."""
    raw = token_unsign(token, salt=UNSUBSCRIBE_SALT, size=8)
    if raw is None:
        return None
    return Contact.objects.filter(pk=int.from_bytes(raw, "big")).first()


def unsubscribe_needed(contact: Contact) -> bool:
    """False when there is nothing left to do: erased, or opted out with the number suppressed."""
    if contact.erased_at or not contact.whatsapp_address():
        return False
    return not (contact_consent_status(contact) == ConsentStatus.OPTED_OUT and contact_is_suppressed(contact))


@transaction.atomic
def unsubscribe_confirm(*, contact: Contact, evidence: Evidence, actor: Actor) -> bool:
    """The person confirmed on the unsubscribe page: record the opt-out; False if there was none to record."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if not unsubscribe_needed(contact):
        return False
    consent_revoke(contact=contact, source=ConsentSource.UNSUBSCRIBE_LINK, evidence=evidence, actor=actor)
    return True
