"""Who did what: actors and the audit log every app writes to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from core.models import AuditEntry


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
    entry.save()
    return entry
