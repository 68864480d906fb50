"""The support inbox: what people wrote to us, newest first, and support's free-text answers.

WhatsApp allows a free-text message only within 24 hours of the person's last message (their
service window, ``Contact.service_window_open``). ``support_reply`` checks that window on the
server, under a lock on the contact, and refuses with the time it closed; after that only an
approved template may be sent, which is a campaign's job, not support's.

The list reads the (answered, -sent_at) index: "waiting" and "answered" are one index range
each, "all" merges the two, so a page costs two small queries whatever the inbox holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Message
from campaigns.sending.service import service_message_queue
from consent.models import Contact
from conversations.models import InboundMessage
from core.audit import Actor, audit_record

PAGE_SIZE = 50
MAX_REPLY_LENGTH = 4096  # WhatsApp's limit for a text body
SHOW_CHOICES = ("waiting", "answered", "all")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReplyRefused(ValueError):
    """An answer that cannot be sent; the message says why."""


@dataclass(frozen=True)
class InboxCursor:
    sent_at: datetime
    pk: int

    def encode(self) -> str:
        """Microseconds since 1970 (exact, unlike a float timestamp) and the id."""
        return f"{(self.sent_at - _EPOCH) // timedelta(microseconds=1)}_{self.pk}"

    @classmethod
    def decode(cls, raw: str) -> InboxCursor | None:
        try:
            micros, pk = raw.split("_")
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(pk))
        except (ValueError, OverflowError):
            return None


@dataclass
class InboxPage:
    items: list[InboundMessage]
    older: InboxCursor | None


def inbox_page(*, show: str = "all", before: InboxCursor | None = None, limit: int = PAGE_SIZE) -> InboxPage:
    """A page of inbound messages, newest first; ``show`` is waiting, answered or all."""
    base = InboundMessage.objects.select_related("contact").order_by("-sent_at", "-pk")
    if before is not None:
        base = base.filter(Q(sent_at__lt=before.sent_at) | Q(sent_at=before.sent_at, pk__lt=before.pk))
    states = {"waiting": [False], "answered": [True]}.get(show, [False, True])
    items: list[InboundMessage] = []
    for answered in states:
        items += list(base.filter(answered=answered)[: limit + 1])
    items.sort(key=lambda m: (m.sent_at, m.pk), reverse=True)
    older = InboxCursor(items[limit - 1].sent_at, items[limit - 1].pk) if len(items) > limit else None
    return InboxPage(items=items[:limit], older=older)


def inbox_answers(items: list[InboundMessage]) -> dict[int, Message]:
    """For each answered message, the first reply sent to its writer after it (who answered is in its decision)."""
    answered = [m for m in items if m.answered and m.contact_id and not m.keyword_action]
    if not answered:
        return {}
    replies = Message.objects.filter(
        kind=Message.Kind.REPLY,
        contact_id__in={m.contact_id for m in answered},
        created_at__gte=min(m.sent_at for m in answered),
    ).order_by("created_at", "pk")
    by_contact: dict[int, list[Message]] = {}
    for reply in replies:
        by_contact.setdefault(reply.contact_id, []).append(reply)
    found = {}
    for item in answered:
        later = [r for r in by_contact.get(item.contact_id or 0, []) if r.created_at >= item.sent_at]
        if later:
            found[item.pk] = later[0]
    return found


def inbox_waiting_count(*, cap: int = 100) -> int:
    """How many messages wait for an answer, counted up to ``cap`` (the badge says "99+" beyond)."""
    return len(InboundMessage.objects.filter(answered=False).order_by("-sent_at").values_list("pk", flat=True)[:cap])


@transaction.atomic
def support_reply(*, contact: Contact, body: str, actor: Actor, now: datetime | None = None) -> Message:
    """Answer a person with free text while their 24-hour window is open; raises ReplyRefused.

    The answer is queued like every free-form reply (sent by a worker, retried when WhatsApp is
    briefly unavailable) and marks the person's waiting messages answered.
    """
    now = now or timezone.now()
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    text = (body or "").strip()
    if not text:
        raise ReplyRefused("Write the answer first.")
    if len(text) > MAX_REPLY_LENGTH:
        raise ReplyRefused(f"WhatsApp takes at most {MAX_REPLY_LENGTH} characters; this answer has {len(text)}.")
    if contact.erased_at or not contact.whatsapp_address():
        raise ReplyRefused("This person's data was erased: there is no number to answer.")
    if not contact.service_window_open(now):
        closes_at = contact.service_window_closes_at()
        when = f"closed on {timezone.localtime(closes_at):%Y-%m-%d at %H:%M %Z}" if closes_at else "is not open: the person never wrote to us"
        raise ReplyRefused(
            f"The 24-hour window for free-text answers {when}. WhatsApp only allows approved templates now; "
            "you can answer freely again as soon as the person writes."
        )
    # From the number the person last wrote to: that conversation is the one whose window is open.
    last_reached = InboundMessage.objects.filter(contact=contact).order_by("-sent_at").values_list("phone_number_id", flat=True).first()
    message = service_message_queue(
        contact=contact,
        kind=Message.Kind.REPLY,
        body=text,
        phone_number_id=last_reached or "",
        decision={
            "reason": "support answer in the service window",
            "window_closes_at": contact.service_window_closes_at().isoformat(),
            "answered_by": actor.display,
        },
    )
    answered = InboundMessage.objects.filter(contact=contact, answered=False).update(answered=True)
    audit_record(
        actor=actor, action="support.reply", object_type="contact", object_id=contact.pk,
        details={"reply": str(message.pk), "answered_messages": answered},
    )  # fmt: skip
    return message
