"""Reads of the consent domain shared by the API, the admin and the sending pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from consent.models import ConsentEvent, ConsentState, ConsentStatus, Contact, Purpose, Suppression
from consent.phones import InvalidPhoneNumber, phone_normalize, wa_id_numbers


class ConsentStatusAnnotation(TypedDict):
    marketing_consent: str  # a ConsentStatus value


if TYPE_CHECKING:  # django-stubs' helper, needed for type checking only
    from django_stubs_ext import WithAnnotations

    ContactWithConsent = WithAnnotations[Contact, ConsentStatusAnnotation]


def contact_find_by_phone(raw: str) -> Contact | None:
    """The contact for a number typed in any format, or None (also for an unreadable number)."""
    try:
        e164 = phone_normalize(raw)
    except InvalidPhoneNumber:
        return None
    return Contact.objects.filter(phone=e164).first()


def contact_consent_status(contact: Contact, purpose: str = Purpose.MARKETING) -> str:
    state = ConsentState.objects.filter(contact=contact, purpose__code=purpose).only("status").first()
    return state.status if state else ConsentStatus.NONE


def active_opt_in_q(purpose: str = Purpose.MARKETING, contact_ref: str = "pk") -> Exists:
    """SQL condition: the contact at ``contact_ref`` has an active opt-in for ``purpose`` now."""
    return Exists(
        ConsentState.objects.filter(
            contact_id=OuterRef(contact_ref), purpose__code=purpose, status=ConsentStatus.OPTED_IN
        )
    )


def suppressed_q(phone_hash_ref: str = "phone_hash", bsuid_hash_ref: str = "bsuid_hash") -> Exists:
    """SQL condition: the contact's number or BSUID (their hashes at the refs) is on the active suppression list."""
    either = Q(number_hash=OuterRef(phone_hash_ref)) | Q(number_hash=OuterRef(bsuid_hash_ref))
    return Exists(Suppression.objects.filter(either, lifted_at__isnull=True))


def contacts_marketable(queryset: QuerySet[Contact] | None = None, purpose: str = Purpose.MARKETING) -> QuerySet[Contact]:
    """Contacts that may receive a marketing message right now: opted in, not suppressed, not erased."""
    queryset = queryset if queryset is not None else Contact.objects.all()
    reachable = Q(phone__isnull=False) | Q(bsuid__isnull=False)
    return queryset.filter(active_opt_in_q(purpose), ~suppressed_q(), reachable, Q(erased_at__isnull=True))


def contacts_with_consent_status(queryset: QuerySet[Contact] | None = None) -> QuerySet[ContactWithConsent]:
    """Contacts annotated with ``marketing_consent`` (opted_in, opted_out or none), in one query."""
    queryset = queryset if queryset is not None else Contact.objects.all()
    status = ConsentState.objects.filter(contact_id=OuterRef("pk"), purpose__code=Purpose.MARKETING).values("status")[:1]
    return queryset.annotate(marketing_consent=Coalesce(Subquery(status), Value(ConsentStatus.NONE)))


def contact_list(*, phone: str | None = None) -> QuerySet[Contact]:
    """Contacts with their marketing consent and tags; only the one for ``phone`` (any format) when given.

    Raises InvalidPhoneNumber with the reason when ``phone`` cannot be read.
    """
    queryset = contacts_with_consent_status().prefetch_related("tags")
    if phone is not None:
        queryset = queryset.filter(phone=phone_normalize(phone))
    return queryset


def contact_consent_events(contact: Contact) -> QuerySet[ConsentEvent]:
    """The contact's consent history, newest first, with who recorded each event."""
    return contact.consent_events.select_related("purpose", "recorded_by").order_by("-occurred_at", "-id")


NAME_MATCHES_SHOWN = 20


def contacts_named(term: str, *, limit: int = NAME_MATCHES_SHOWN) -> list[Contact]:
    """People whose name contains every word of ``term`` (any case), alphabetically; erased people have no name."""
    words = term.split()
    if not words:
        return []
    condition = Q()
    for word in words:
        condition &= Q(name__icontains=word)
    return list(Contact.objects.filter(condition, erased_at__isnull=True).order_by("name", "pk")[:limit])


def phone_search_numbers(term: str) -> list[str]:
    """The E.164 numbers a search term typed in any format may stand for (none if it is no number).

    "0151 23456789" is read with PHONE_DEFAULT_REGION; "4915123456789" (digits only, as WhatsApp ids
    and exports write it) also as international.
    """
    candidates = [term]
    digits = "".join(ch for ch in term if ch.isdigit())
    if digits and not term.strip().startswith("+") and not digits.startswith("0"):
        candidates.append("+" + digits)
    numbers = []
    for candidate in candidates:
        try:
            numbers.append(phone_normalize(candidate))
        except InvalidPhoneNumber:
            continue
    return sorted(set(numbers))


def contacts_by_consent_status(queryset: QuerySet[Contact], status: str, purpose: str = Purpose.MARKETING) -> QuerySet[Contact]:
    """Contacts whose current consent for ``purpose`` is ``status`` (``none``: never recorded)."""
    states = ConsentState.objects.filter(contact_id=OuterRef("pk"), purpose__code=purpose)
    if status == ConsentStatus.NONE:
        return queryset.filter(~Exists(states))
    return queryset.filter(Exists(states.filter(status=status)))


def contact_find_by_wa_id(wa_id: str) -> Contact | None:
    """The (not erased) contact with this WhatsApp id, or whose number it is; None when unknown."""
    if not wa_id:
        return None
    # wa_id_numbers: WhatsApp ids of some countries leave out or add a digit (Brazil's ninth, Mexico's 1).
    return Contact.objects.filter(Q(wa_id=wa_id) | Q(phone__in=wa_id_numbers(wa_id)), erased_at__isnull=True).order_by("pk").first()


def contact_find_by_bsuid(user_id: str) -> Contact | None:
    """The (not erased) contact with this business-scoped user id, or None."""
    if not user_id:
        return None
    return Contact.objects.filter(bsuid=user_id, erased_at__isnull=True).first()
