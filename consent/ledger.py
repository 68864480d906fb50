"""Verification of the consent ledger's hash chain (see ConsentEvent) and of the states derived from it."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Subquery

from consent.models import ConsentAction, ConsentEvent, ConsentState, ConsentStatus, LedgerHead
from core.audit_chain import GENESIS_HASH, ChainBreak, ChainReport

# Kept for callers that name the ledger's report by its old name.


def _break(event_id: int | None, problem: str) -> ChainBreak:
    return ChainBreak(chain="ledger", unit="event", entry_id=event_id, problem=problem)


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


def ledger_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk every event in append order and check each link of the chain, then the ledger head."""
    expected_previous = GENESIS_HASH
    checked = 0
    for event in ConsentEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        problem = _event_problem(event, expected_previous)
        if problem:
            return ChainReport(checked=checked, first_break=_break(event.pk, problem))
        expected_previous = event.entry_hash
        checked += 1
    head = LedgerHead.objects.filter(pk=1).values_list("last_hash", flat=True).first() or GENESIS_HASH
    if head != expected_previous:
        problem = "the ledger head does not match the last event: events at the end were removed"
        return ChainReport(checked=checked, first_break=_break(None, problem), head_hash=head)
    return ChainReport(checked=checked, first_break=None, head_hash=head)


_STATUS_OF_ACTION = {ConsentAction.OPT_IN: ConsentStatus.OPTED_IN, ConsentAction.OPT_OUT: ConsentStatus.OPTED_OUT}


def consent_states_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Every current consent state is what its events imply: the newest event (by time, then append order) decides.

    A state that says otherwise was written around the ledger (or the ledger around it); sends
    are decided on states, so such a state could message someone who opted out.
    """
    newest = ConsentEvent.objects.filter(contact=OuterRef("contact"), purpose=OuterRef("purpose")).order_by("-occurred_at", "-id")
    states = ConsentState.objects.annotate(
        expected_event=Subquery(newest.values("id")[:1]),
        expected_action=Subquery(newest.values("action")[:1]),
        expected_since=Subquery(newest.values("occurred_at")[:1]),
    ).order_by("id")
    checked = 0
    for state in states.iterator(chunk_size=chunk_size):
        where = f"consent state {state.pk} (contact {state.contact_id}, purpose {state.purpose_id})"
        if state.expected_event is None:
            return ChainReport(checked=checked, first_break=_state_break(f"{where} has no consent event behind it"))
        expected_status = _STATUS_OF_ACTION.get(state.expected_action)
        if (state.last_event_id, state.status, state.since) != (state.expected_event, expected_status, state.expected_since):
            problem = (
                f"{where} says {state.status} since {state.since.isoformat()} (event {state.last_event_id}), "
                f"but its newest event {state.expected_event} means {expected_status} since {state.expected_since.isoformat()}"
            )
            return ChainReport(checked=checked, first_break=_state_break(problem))
        checked += 1
    stateless = (
        ConsentEvent.objects.filter(~Exists(ConsentState.objects.filter(contact=OuterRef("contact"), purpose=OuterRef("purpose"))))
        .order_by("id")
        .values_list("id", "contact_id", "purpose_id")
        .first()
    )
    if stateless is not None:
        event_id, contact_id, purpose_id = stateless
        problem = f"contact {contact_id} has consent event {event_id} for purpose {purpose_id} but no consent state"
        return ChainReport(checked=checked, first_break=_state_break(problem))
    return ChainReport(checked=checked, first_break=None)


def _state_break(problem: str) -> ChainBreak:
    return ChainBreak(chain="consent states", unit="", entry_id=None, problem=problem)
