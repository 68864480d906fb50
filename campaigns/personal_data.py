"""What campaigns keeps about a person (messages, clicks, behaviour events): registered for rights and retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q

from campaigns.models import (
    Campaign,
    CampaignEdit,
    Click,
    Event,
    FrequencyCapPolicy,
    Message,
    MessageStatus,
    Segment,
    StaffTestNumber,
)
from consent.personal_data import (
    PersonalData,
    PersonTraces,
    RetentionRule,
    personal_data_none,
    personal_data_register,
    rows,
)

# Decision keys that describe the person rather than the decision: template parameters (their
# name, their product), their time zone, and what WhatsApp said back (message id, error text).
_PERSONAL_DECISION_KEYS = frozenset({"parameters", "time_zone", "wamid", "error"})
# Columns a click may carry about the device that clicked; blanked by erasure where the model has them.
_CLICK_DEVICE_FIELDS = ("ip_address", "user_agent", "referrer")
# Messages whose outcome can no longer change: their details are only history.
_FINISHED_STATUSES = (MessageStatus.SKIPPED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)


def _export(contact: Any) -> dict[str, Any]:
    return {
        "messages": rows(
            Message.objects.filter(contact=contact).order_by("created_at"), exclude=("claim_token", "lease_expires_at"), extra=("campaign__name",)
        ),
        "clicks": rows(Click.objects.filter(message__contact=contact).order_by("at")),
        "events": rows(Event.objects.filter(contact=contact).order_by("occurred_at")),
    }


def _erase(contact: Any, traces: PersonTraces) -> dict[str, int]:
    """Behaviour events go; messages keep row and status (campaign statistics count them), lose what is personal."""
    events = Event.objects.filter(contact=contact).delete()[0]
    messages = list(Message.objects.filter(contact=contact).only("pk", "decision"))
    for message in messages:
        message.body, message.content, message.wamid, message.error_detail = "", None, None, ""
        message.decision = traces.scrub(message.decision, _PERSONAL_DECISION_KEYS)
    Message.objects.bulk_update(messages, ["body", "content", "wamid", "error_detail", "decision"], batch_size=500)
    device_fields = {f.attname for f in Click._meta.concrete_fields} & set(_CLICK_DEVICE_FIELDS)
    clicks = Click.objects.filter(message__contact=contact)
    stripped = clicks.update(**{name: None if Click._meta.get_field(name).null else "" for name in device_fields}) if device_fields else clicks.count()
    return {"events": events, "messages": len(messages), "clicks": stripped}


def _message_ids(contact: Any) -> list[str]:
    return [wamid for wamid in Message.objects.filter(contact=contact, wamid__isnull=False).values_list("wamid", flat=True) if wamid]


def register() -> None:
    personal_data_register(
        PersonalData(
            name="campaigns",
            models=(Message, Click, Event),
            export=_export,
            erase=_erase,
            message_ids=_message_ids,
            retention=(
                RetentionRule(
                    "message_details",
                    lambda: settings.MESSAGE_DETAIL_RETENTION_DAYS,
                    lambda cutoff: Message.objects.filter(created_at__lt=cutoff, status__in=_FINISHED_STATUSES).filter(
                        ~Q(body="") | ~Q(error_detail="") | ~Q(decision={}) | Q(wamid__isnull=False) | Q(content__isnull=False)
                    ),
                    lambda pks: Message.objects.filter(pk__in=pks).update(body="", content=None, error_detail="", decision={}, wamid=None),
                ),
                RetentionRule(
                    "events",
                    lambda: settings.EVENT_RETENTION_DAYS,
                    lambda cutoff: Event.objects.filter(occurred_at__lt=cutoff),
                    lambda pks: Event.objects.filter(pk__in=pks).delete()[0],
                ),
            ),
        )
    )
    personal_data_none(Campaign, Segment, FrequencyCapPolicy, reason="the business's own campaigns, rules and limits")
    personal_data_none(StaffTestNumber, reason="links a staff account to its own contact, whose data the contact holds")
    personal_data_none(CampaignEdit, reason="which staff account changed a campaign (four eyes), as the audit log keeps it")
