"""Bulk actions on a filtered list of contacts (the contact admin): tag, untag, record opt-outs.

Each works in chunks, so "all 40,000 matching contacts" never sits in memory at once. Opt-outs go
through ``consent_record_many``: one ledger event (and its audit entry) per person; every action
also leaves one audit entry for the whole operation with its count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from consent.models import ConsentAction, ConsentSource, ConsentStatus, Contact, Tag, TagNameError, tag_name_normalised
from consent.selectors import contacts_by_consent_status
from consent.services import ConsentChange, ConsentRefused, Evidence, consent_record_many, consent_states_lock
from core.audit import Actor, audit_record

CHUNK = 1000


class BulkRefused(ValueError):
    """A bulk action that cannot run as asked; the message says why."""


@dataclass(frozen=True)
class BulkResult:
    changed: int
    unchanged: int  # already as asked (tagged, untagged, opted out) or erased


def _id_chunks(contacts: QuerySet[Contact]) -> Iterator[list[int]]:
    ids = list(contacts.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _tag_named(name: str) -> str:
    try:
        return tag_name_normalised(name)
    except TagNameError as exc:
        raise BulkRefused(str(exc)) from exc


@transaction.atomic
def contacts_tag(*, contacts: QuerySet[Contact], tag_name: str, actor: Actor) -> BulkResult:
    name = _tag_named(tag_name)
    tag, _ = Tag.objects.get_or_create(name=name)
    through = Contact.tags.through
    changed = total = 0
    for ids in _id_chunks(contacts):
        total += len(ids)
        tagged = set(through.objects.filter(tag=tag, contact_id__in=ids).values_list("contact_id", flat=True))
        links = [through(contact_id=pk, tag_id=tag.pk) for pk in ids if pk not in tagged]
        through.objects.bulk_create(links, ignore_conflicts=True)
        changed += len(links)
    audit_record(actor=actor, action="contacts.bulk_tag", object_type="tag", object_id=name, details={"tagged": changed, "selected": total})
    return BulkResult(changed, total - changed)


@transaction.atomic
def contacts_untag(*, contacts: QuerySet[Contact], tag_name: str, actor: Actor) -> BulkResult:
    name = _tag_named(tag_name)
    tag = Tag.objects.filter(name=name).first()
    if tag is None:
        raise BulkRefused(f"There is no tag {name!r}.")
    changed = total = 0
    for ids in _id_chunks(contacts):
        total += len(ids)
        changed += Contact.tags.through.objects.filter(tag=tag, contact_id__in=ids).delete()[0]
    audit_record(
        actor=actor, action="contacts.bulk_untag", object_type="tag", object_id=name, details={"untagged": changed, "selected": total}
    )
    return BulkResult(changed, total - changed)


@transaction.atomic
def contacts_opt_out(*, contacts: QuerySet[Contact], reason: str, actor: Actor) -> BulkResult:
    """Record an opt-out for every contact not opted out already; ``reason`` is kept as each event's note."""
    reason = reason.strip()
    if not reason:
        raise BulkRefused("Say why these people are opted out (who asked, where, a ticket number).")
    opted_out = set(contacts_by_consent_status(contacts, ConsentStatus.OPTED_OUT).values_list("pk", flat=True))
    # Every chunk's people locked before the first chunk takes the chains' locks (consent_states_lock).
    consent_states_lock(contacts.exclude(pk__in=opted_out).values_list("pk", flat=True))
    changed = total = 0
    for ids in _id_chunks(contacts):
        total += len(ids)
        people = Contact.objects.filter(pk__in=[pk for pk in ids if pk not in opted_out], erased_at__isnull=True).order_by("pk")
        changes = [
            ConsentChange(contact=c, action=ConsentAction.OPT_OUT, source=ConsentSource.SUPPORT, evidence=Evidence(note=reason))
            for c in people
        ]
        results = consent_record_many(changes=changes, actor=actor)
        changed += sum(1 for result in results if not isinstance(result, ConsentRefused))
    audit_record(
        actor=actor, action="contacts.bulk_opt_out", object_type="contact", object_id="",
        details={"opted_out": changed, "selected": total, "reason": reason},
    )  # fmt: skip
    return BulkResult(changed, total - changed)
