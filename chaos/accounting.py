"""What a drill found, judged against the sandbox's log of accepted sends (the ground truth).

Runs in the drill's process with Django set up on the stack's database.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

COLUMNS = ("drill", "recipients", "sent", "duplicates", "lost", "unknown", "consent violations", "time")


@dataclass
class DrillResult:
    """One line of ``make chaos``. ``problems`` are other failed checks (e.g. a bad webhook accepted)."""

    drill: str
    recipients: int = 0
    sent: int = 0
    duplicates: int = 0
    lost: int = 0
    unknown: int = 0
    violations: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.duplicates or self.lost or self.violations or self.problems)

    def cells(self) -> list[str]:
        return [
            self.drill, str(self.recipients), str(self.sent), str(self.duplicates), str(self.lost), str(self.unknown),
            str(self.violations), f"{self.seconds:.0f} s",
        ]  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DrillResult:
        return cls(**json.loads(text))


@dataclass
class Audience:
    """Who a drill's campaigns go to: only ``opted_in`` may receive anything."""

    opted_in: list[int]
    without_consent: list[int] = field(default_factory=list)
    opted_out: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.opted_in) + len(self.without_consent) + len(self.opted_out)


def campaign_sends(sends: list[dict]) -> dict[str, list[dict]]:
    """The sandbox's template sends by callback data (``msg:<message id>``)."""
    by_callback: dict[str, list[dict]] = defaultdict(list)
    for send in sends:
        if send.get("type") == "template":
            by_callback[send.get("callback_data") or ""].append(send)
    return by_callback


def account(
    result: DrillResult,
    *,
    campaign_ids: list[int],
    audience: Audience,
    sends: list[dict],
    opt_outs_effective: dict[int, float] | None = None,
    sends_per_person: int | None = None,
    max_per_day: int = 1,
) -> DrillResult:
    """Fill ``result``'s figures from the messages of ``campaign_ids`` and the sandbox's ``sends``.

    - sent: messages the sandbox accepted at least once; duplicates: every acceptance beyond the first.
    - lost: an opted-in recipient's message never accepted and not reported unknown (with
      ``sends_per_person``: a person who got fewer sends than that across the campaigns, e.g. a cap
      of 1 over three campaigns); a recipient in ``opt_outs_effective`` (contact id -> Unix time the
      opt-out took effect) counts as lost only if their message was neither sent nor skipped.
    - consent violations: a send to someone not opted in, a send accepted after the recipient's
      opt-out took effect, and each send beyond ``max_per_day`` per person and local day.
    - unknown: messages still ``unknown``: their call started and was cut off (a killed worker), so
      they are never sent again and the campaign report shows them; one the sandbox did accept
      but whose status webhook did not resolve it is a problem.
    """
    from campaigns.models import Message, MessageStatus
    from consent.models import Contact

    opt_outs_effective = opt_outs_effective or {}
    messages = list(
        Message.objects.filter(campaign_id__in=campaign_ids).values_list("pk", "contact_id", "status", "skip_reason")
    )
    by_callback = campaign_sends(sends)
    opted_in = set(audience.opted_in)
    result.recipients = len(messages)

    sends_of_contact: dict[int, list[dict]] = defaultdict(list)
    known_callbacks = set()
    unresolved = 0
    for message_id, contact_id, status, _skip_reason in messages:
        callback = f"msg:{message_id}"
        known_callbacks.add(callback)
        accepted = by_callback.get(callback, [])
        sends_of_contact[contact_id].extend(accepted)
        if accepted:
            result.sent += 1
            result.duplicates += len(accepted) - 1
        if status == MessageStatus.UNKNOWN:
            result.unknown += 1
            unresolved += bool(accepted)
        if sends_per_person is None and contact_id in opted_in and not accepted:
            stopped = contact_id in opt_outs_effective
            # Unknown (a call cut off before it arrived) is reported as such, never re-sent: not lost.
            if status != MessageStatus.UNKNOWN and not (stopped and status == MessageStatus.SKIPPED):
                result.lost += 1
    if sends_per_person is not None:
        result.lost = sum(1 for contact_id in opted_in if len(sends_of_contact.get(contact_id, [])) < sends_per_person)
    if unresolved:
        result.problems.append(f"{unresolved} message(s) the sandbox accepted are still unknown after the status webhooks")
    strays = sum(len(v) for k, v in by_callback.items() if k not in known_callbacks)
    if strays:
        result.problems.append(f"{strays} template send(s) belong to no message of the drill's campaigns")

    zones = dict(Contact.objects.filter(pk__in=list(sends_of_contact)).values_list("pk", "time_zone"))
    for contact_id, accepted in sends_of_contact.items():
        if not accepted:
            continue
        if contact_id not in opted_in:
            result.violations += len(accepted)
            continue
        effective = opt_outs_effective.get(contact_id)
        if effective is not None:
            result.violations += sum(1 for send in accepted if send["accepted_at"] > effective)
        zone = ZoneInfo(zones.get(contact_id) or "UTC")
        per_day = Counter(datetime.fromtimestamp(send["accepted_at"], tz=UTC).astimezone(zone).date() for send in accepted)
        result.violations += sum(max(0, count - max_per_day) for count in per_day.values())

    skipped = Counter(
        reason for _, _, status, reason in messages if status == MessageStatus.SKIPPED
    )
    if skipped:
        result.notes.append("skipped: " + ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())))
    return result
