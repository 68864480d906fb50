"""The audit log's hash chain: pure functions, shared by the model, its migration and the verifier.

Like the consent ledger (consent.models.ConsentEvent), each entry's ``entry_hash`` covers the hash
of the entry before it, so removing, inserting or editing an entry breaks every later link.

What an erasure may scrub (details, object id, actor label, IP address) enters the chain only
through ``content_digest``, a digest over those fields and a random ``salt``. An erasure blanks the
salt: the stored digest then no longer lets anyone confirm a guessed number (a phone number alone
would be easy to guess from an unsalted digest), and the chain still verifies. The scrubbed
content is sealed instead by ``scrubbed_digest``, which the erasure's own audit entry (itself in
the chain) lists, so an edit after the erasure is found too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
# In an erasure's audit entry: scrubbed entry id -> its ``scrubbed_digest`` (the seal of what is left).
AUDIT_SCRUBBED_KEY = "scrubbed_audit_entries"


def audit_salt_new() -> str:
    return secrets.token_hex(16)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def audit_content_digest(*, salt: str, details: Any, object_id: str, actor_label: str, ip_address: str | None) -> str:
    return _digest([salt, details, object_id, actor_label, ip_address or ""])


def audit_entry_hash(
    *, previous_hash: str, at: datetime, actor_id: int | None, action: str, object_type: str, content_digest: str
) -> str:
    body = {
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor_id,
        "action": action,
        "object_type": object_type,
        "content_digest": content_digest,
    }
    return hashlib.sha256((previous_hash + json.dumps(body, sort_keys=True)).encode()).hexdigest()


def json_normalise(details: Any) -> Any:
    """``details`` as the database gives it back (string keys, lists for tuples): the digest must match after a round trip."""
    return json.loads(json.dumps(details))


@dataclass(frozen=True)
class ChainBreak:
    """The first place where a stored chain (the consent ledger, the audit log) differs from what the application wrote."""

    chain: str  # "ledger", "audit log"
    unit: str  # "event", "entry"; empty when the problem names its own place
    entry_id: int | None
    problem: str

    def describe(self) -> str:
        if not self.unit:
            return f"{self.chain} broken: {self.problem}"
        where = f"at {self.unit} {self.entry_id}" if self.entry_id is not None else "at its end"
        return f"{self.chain} broken {where}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None
    head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return self.first_break is None
