"""Verification of the audit log's hash chain (see core.audit_chain)."""

from __future__ import annotations

from core.audit_chain import AUDIT_SCRUBBED_KEY, GENESIS_HASH, ChainBreak, ChainReport
from core.models import AuditEntry, AuditHead


def _break(entry_id: int | None, problem: str) -> ChainBreak:
    return ChainBreak(chain="audit log", unit="entry", entry_id=entry_id, problem=problem)


def _entry_problem(entry: AuditEntry, expected_previous: str) -> str:
    if entry.previous_hash != expected_previous:
        return (
            "previous_hash does not match the entry before it: an entry before it was removed, "
            "or this one was inserted or reordered"
        )
    if entry.scrubbed_at is None:
        if not entry.salt or entry.compute_content_digest() != entry.content_digest:
            return "its details, object id, actor label or IP address no longer match content_digest: one was edited"
    elif entry.salt:
        return "it is marked scrubbed by an erasure but still has the salt an erasure removes"
    elif entry.compute_content_digest() != entry.scrubbed_digest:
        return "its details, object id, actor label or IP address were edited after an erasure scrubbed them"
    if entry.compute_hash() != entry.entry_hash:
        return "its contents no longer match entry_hash: the time, actor, action, object type or content_digest was edited"
    return ""


def audit_log_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk every entry in append order, check each link, that every scrub is sealed by an erasure, then the head."""
    expected_previous = GENESIS_HASH
    checked = 0
    scrubbed: dict[str, str] = {}  # entry id -> scrubbed_digest
    sealed: dict[str, str] = {}  # entry id -> digest the latest erasure recorded for it
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=chunk_size):
        problem = _entry_problem(entry, expected_previous)
        if problem:
            return ChainReport(checked=checked, first_break=_break(entry.pk, problem))
        if entry.scrubbed_at is not None:
            scrubbed[str(entry.pk)] = entry.scrubbed_digest
        seals = entry.details.get(AUDIT_SCRUBBED_KEY) if isinstance(entry.details, dict) else None
        if isinstance(seals, dict):
            sealed.update(seals)
        expected_previous = entry.entry_hash
        checked += 1
    for entry_id, digest in sorted(scrubbed.items(), key=lambda item: int(item[0])):
        if sealed.get(entry_id) != digest:
            problem = "it is marked scrubbed, but no erasure recorded in the log left it as it is now"
            return ChainReport(checked=checked, first_break=_break(int(entry_id), problem))
    head = AuditHead.objects.filter(pk=1).values_list("last_hash", flat=True).first() or GENESIS_HASH
    if head != expected_previous:
        problem = "the audit head does not match the last entry: entries at the end were removed"
        return ChainReport(checked=checked, first_break=_break(None, problem), head_hash=head)
    return ChainReport(checked=checked, first_break=None, head_hash=head)
