"""Who did what: actors and the audit log every app writes to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from core.audit_chain import audit_salt_new, json_normalise
from core.models import AuditEntry, AuditHead


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a staff user, an API token's user, or the system (webhook, import)."""

    user: User | AnonymousUser | None = None
    label: str = ""
    ip_address: str | None = None

    @property
    def display(self) -> str:
        return self.label or (self.user.get_username() if self.user else "system")


SYSTEM = Actor(label="system")
# What WhatsApp itself reported (account problems, platform opt-outs, template changes).
PLATFORM_ACTOR = Actor(label="whatsapp platform")


def audit_entry(
    *, actor: Actor, action: str, object_type: str = "", object_id: Any = "", details: dict[str, Any] | None = None
) -> AuditEntry:
    return AuditEntry(
        actor=actor.user if isinstance(actor.user, User) and actor.user.pk else None,
        actor_label=actor.display[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        ip_address=actor.ip_address or None,
        details=details or {},
    )


def audit_record(
    *, actor: Actor, action: str, object_type: str = "", object_id: Any = "", details: dict[str, Any] | None = None
) -> AuditEntry:
    entry = audit_entry(actor=actor, action=action, object_type=object_type, object_id=object_id, details=details)
    audit_append([entry])
    return entry


def audit_head_lock() -> AuditHead:
    """Lock the audit log's head row until the transaction ends: appends from every worker form one chain.

    Every transaction takes its locks in one order, so no two deadlock: the people's consent states
    (consent_states_lock), then this, then the consent ledger's head.
    """
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
    return head


@transaction.atomic
def audit_append(entries: Sequence[AuditEntry]) -> None:
    """Append unsaved entries (from ``audit_entry``) to the audit log, in order, each chained to the one before."""
    if entries:
        audit_append_locked(entries, head=audit_head_lock())


def audit_append_locked(entries: Sequence[AuditEntry], *, head: AuditHead) -> None:
    """``audit_append`` for a transaction that holds the head already (``audit_head_lock``'s row).

    Saves the head's second lock and the savepoint: an opt-out holds the head, which every other
    opt-out waits for, from its lock until its commit, so each round trip in between counts.
    """
    if not entries:
        return
    ip_field = AuditEntry._meta.get_field("ip_address")
    last_hash = head.last_hash
    for entry in entries:
        # Stored as the database gives it back, so the digest still matches when read.
        entry.details = json_normalise(entry.details)
        entry.ip_address = ip_field.get_prep_value(entry.ip_address) or None
        entry.salt = audit_salt_new()
        entry.content_digest = entry.compute_content_digest()
        entry.previous_hash = last_hash
        entry.entry_hash = last_hash = entry.compute_hash()
    # One multi-row INSERT assigns ids in list order, which is the chain order the verifier walks.
    AuditEntry.objects.bulk_create(entries, batch_size=1000)
    head.last_hash = last_hash
    head.save(update_fields=["last_hash"])
