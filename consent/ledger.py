"""Verification of the consent ledger's hash chain (see ConsentEvent)."""

from __future__ import annotations

from dataclasses import dataclass

from consent.models import ConsentEvent, LedgerHead

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class LedgerBreak:
    """The first place where the stored ledger differs from what the application wrote."""

    event_id: int | None
    problem: str

    def describe(self) -> str:
        where = f"at event {self.event_id}" if self.event_id is not None else "at its end"
        return f"ledger broken {where}: {self.problem}"


@dataclass(frozen=True)
class LedgerReport:
    events_checked: int
    first_break: LedgerBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _event_problem(event: ConsentEvent, expected_previous: str) -> str:
    if event.previous_hash != expected_previous:
        return (
            "previous_hash does not match the event before it: an event before it was removed, "
            "or this one was inserted or reordered"
        )
    personal = (event.page_url, event.ip_address, event.user_agent, event.note)
    if event.evidence_erased_at is None:
        if event.compute_personal_digest() != event.personal_digest:
            return "the page URL, IP address, user agent or note no longer match personal_digest: one was edited"
    elif any(personal):
        # Erasure blanks these fields; marking an event erased must not hide an edit of them.
        return "the evidence is marked erased but still holds page URL, IP address, user agent or note"
    if event.compute_hash() != event.entry_hash:
        return (
            "its contents no longer match entry_hash: the contact, purpose, action, source, times, "
            "recorder, notice text/version or personal_digest was edited"
        )
    return ""


def ledger_verify(*, chunk_size: int = 2000) -> LedgerReport:
    """Walk every event in append order and check each link of the chain, then the ledger head."""
    expected_previous = GENESIS_HASH
    checked = 0
    for event in ConsentEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        problem = _event_problem(event, expected_previous)
        if problem:
            return LedgerReport(events_checked=checked, first_break=LedgerBreak(event_id=event.pk, problem=problem))
        expected_previous = event.entry_hash
        checked += 1
    head = LedgerHead.objects.filter(pk=1).values_list("last_hash", flat=True).first() or GENESIS_HASH
    if head != expected_previous:
        problem = "the ledger head does not match the last event: events at the end were removed"
        return LedgerReport(events_checked=checked, first_break=LedgerBreak(event_id=None, problem=problem))
    return LedgerReport(events_checked=checked, first_break=None)
