"""Writes of the campaigns domain: events, segments, the campaign lifecycle, launch and status reports.

The sending pipeline itself (claim, check, send, write back) lives in campaigns.sending.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import (
    STATUS_RANK,
    Campaign,
    CampaignEdit,
    Event,
    FollowUpCondition,
    FrequencyCapPolicy,
    Message,
    MessageStatus,
    Segment,
)
from campaigns.notifications import campaign_decided_notify, campaign_submitted_notify
from campaigns.parameters import ParameterMappingError, parameters_validate, template_has_tracked_link
from campaigns.segments import segment_rules_validate
from campaigns.sending.claims import dispatcher_active, leases_expire, messages_claimable_exist
from campaigns.sending.materialise import messages_materialise
from campaigns.sending.outcomes import held_back_requeue
from campaigns.unknown_codes import unknown_codes_reset
from campaigns.variants import VariantError, variant_snapshot, variants_validate
from consent.models import Contact
from consent.phones import InvalidPhoneNumber, phone_normalize
from consent.services import contact_upsert
from core.audit import SYSTEM, Actor, audit_record
from core.rows import rows_update
from whatsapp import numbers
from whatsapp.account import account_sending_blocked
from whatsapp.client import HELD_BACK_CODE
from whatsapp.models import MessageTemplate

logger = logging.getLogger(__name__)


class CampaignError(ValueError):
    """A campaign action the rules do not allow; the message says why and what to do."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CampaignForbidden(PermissionError):
    """The actor may not do this to this campaign (e.g. approving their own)."""


# --- behaviour events ---------------------------------------------------------------------------

MAX_EVENTS_PER_BATCH = 1000
MAX_EVENT_PROPERTIES_BYTES = 8192
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_EVENT_KEYS = {"phone", "name", "properties", "occurred_at"}


@dataclass(frozen=True)
class EventRejection:
    index: int
    reason: str


@dataclass
class EventIngestResult:
    accepted: int = 0
    contacts_created: int = 0
    rejected: list[EventRejection] = field(default_factory=list)


def _event_item_parse(item: Any, now: datetime) -> tuple[str, str, dict, datetime]:
    """(E.164, name, properties, occurred_at) of one item, or ValueError with the reason."""
    if not isinstance(item, dict):
        raise ValueError("expected an object with phone, name, properties and occurred_at.")
    unknown = set(item) - _EVENT_KEYS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(_EVENT_KEYS))}.")
    try:
        phone = phone_normalize(str(item.get("phone") or ""))
    except InvalidPhoneNumber as exc:
        raise ValueError(f"phone: {exc}") from None
    name = item.get("name")
    if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
        raise ValueError("name: expected 1-100 letters, digits or _ . : - (e.g. product_viewed).")
    properties = item.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise ValueError('properties: expected an object, e.g. {"sku": "X"}.')
    if len(json.dumps(properties)) > MAX_EVENT_PROPERTIES_BYTES:
        raise ValueError(f"properties: larger than {MAX_EVENT_PROPERTIES_BYTES} bytes.")
    raw_time = item.get("occurred_at")
    occurred_at = parse_datetime(raw_time) if isinstance(raw_time, str) else None
    if occurred_at is None:
        raise ValueError("occurred_at: expected an ISO 8601 time such as 2026-11-25T14:03:00Z.")
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at: add the time zone offset (e.g. Z or +01:00).")
    if occurred_at > now + timedelta(minutes=5):
        raise ValueError("occurred_at lies in the future.")
    return phone, name, properties, occurred_at


@transaction.atomic
def events_ingest(*, items: list[Any]) -> EventIngestResult:
    """Store a batch of behaviour events; each bad item is rejected with its index and reason.

    A phone without a contact creates the contact, without any consent.
    """
    if len(items) > MAX_EVENTS_PER_BATCH:
        raise ValueError(f"At most {MAX_EVENTS_PER_BATCH} events per request; split the batch.")
    now = timezone.now()
    result = EventIngestResult()
    parsed: list[tuple[str, str, dict, datetime]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_event_item_parse(item, now))
        except ValueError as exc:
            result.rejected.append(EventRejection(index=index, reason=str(exc)))
    phones = {phone for phone, *_ in parsed}
    contact_ids = dict(Contact.objects.filter(phone__in=phones).values_list("phone", "pk"))
    for phone in sorted(phones - set(contact_ids)):
        contact, created = contact_upsert(phone=phone)
        contact_ids[phone] = contact.pk
        result.contacts_created += int(created)
    Event.objects.bulk_create(
        [
            Event(contact_id=contact_ids[phone], name=name, properties=properties, occurred_at=occurred_at, received_at=now)
            for phone, name, properties, occurred_at in parsed
        ],
        batch_size=500,
    )
    result.accepted = len(parsed)
    return result


# --- segments -----------------------------------------------------------------------------------


@transaction.atomic
def segment_create(*, name: str, rules: Any, description: str = "", actor: Actor = SYSTEM) -> Segment:
    """Save a segment; raises SegmentRuleError naming the bad part of the tree."""
    segment_rules_validate(rules)
    if Segment.objects.filter(name=name).exists():
        raise CampaignError(f"A segment called {name!r} exists already.", field="name")
    segment = Segment.objects.create(
        name=name, rules=rules, description=description, created_by=_user(actor)
    )
    audit_record(actor=actor, action="segment.create", object_type="segment", object_id=segment.pk, details={"rules": rules})
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, actor: Actor = SYSTEM, **changes: Any) -> Segment:
    """Change a segment; campaigns awaiting approval or sending on it lose their approval."""
    unknown = set(changes) - {"name", "rules", "description"}
    if unknown:
        raise CampaignError(f"Cannot change {', '.join(sorted(unknown))} of a segment.")
    if "rules" in changes:
        segment_rules_validate(changes["rules"])
    if "name" in changes and Segment.objects.filter(name=changes["name"]).exclude(pk=segment.pk).exists():
        raise CampaignError(f"A segment called {changes['name']!r} exists already.", field="name")
    for attr, value in changes.items():
        setattr(segment, attr, value)
    segment.save()
    audit_record(actor=actor, action="segment.update", object_type="segment", object_id=segment.pk, details={"changes": sorted(changes)})
    if "rules" in changes:  # who changed a campaign's audience changed the campaign (four eyes)
        for campaign in Campaign.objects.select_for_update().filter(segment=segment, status__in=_CHANGEABLE):
            _edit_record(campaign, actor=actor, fields=["segment rules"])
    for campaign in Campaign.objects.select_for_update().filter(segment=segment, status__in=_APPROVAL_PINNED):
        _approval_recheck(campaign, actor=actor, what=f"segment {segment.name!r}")
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor: Actor = SYSTEM) -> None:
    if segment.campaigns.exists():
        raise CampaignError("Campaigns use this segment; it cannot be deleted.")
    audit_record(actor=actor, action="segment.delete", object_type="segment", object_id=segment.pk, details={"name": segment.name})
    segment.delete()


# --- campaigns: definition ----------------------------------------------------------------------

EDITABLE_FIELDS = (
    "name", "template", "segment", "parameters", "tracked_url", "send_at", "local_time", "expires_at",
    "max_per_day", "max_per_week", "phone_number_id", "variants", "control_percent",
)  # fmt: skip
# How conversions are counted: not part of what is approved (nothing sent depends on it), so it may
# change at any time, after the campaign ended too (campaign_conversion_set).
CONVERSION_FIELDS = ("conversion_event", "conversion_value_property", "conversion_window_days")
MAX_CONVERSION_WINDOW_DAYS = 90
# States whose approval (or pending review) is pinned to the snapshot of what was submitted.
_APPROVAL_PINNED = (Campaign.Status.PENDING_APPROVAL, Campaign.Status.APPROVED, Campaign.Status.SCHEDULED, Campaign.Status.PAUSED)
_FINISHED = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)
# States in which the definition may change (a sending campaign is paused first).
_CHANGEABLE = (Campaign.Status.DRAFT, *_APPROVAL_PINNED)
# States holding an approval: any change voids it.
_APPROVED = (Campaign.Status.APPROVED, Campaign.Status.SCHEDULED, Campaign.Status.PAUSED)


def campaign_snapshot_hash(campaign: Campaign) -> str:
    """Digest of what an approver approves: template, segment rules, mapping, link, schedule, caps,
    number, and the A/B variants with the hold-out."""
    template = campaign.template
    snapshot = {
        "template": [template.pk, template.name, template.language, template.category, template.components]
        if template
        else None,
        "segment": [campaign.segment_id, campaign.segment.rules if campaign.segment else None],
        "parameters": campaign.parameters,
        "tracked_url": campaign.tracked_url,
        "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
        "local_time": campaign.local_time.strftime("%H:%M") if campaign.local_time else None,
        "expires_at": campaign.expires_at.isoformat() if campaign.expires_at else None,
        "caps": [campaign.max_per_day, campaign.max_per_week],
    }
    if campaign.variants or campaign.control_percent:  # only then: approvals given before A/B tests existed stay valid
        snapshot["variants"] = variant_snapshot(campaign)
    if campaign.follow_up_of_id is not None:  # only then: the approvals of other campaigns keep their hash
        snapshot["follow_up"] = [campaign.follow_up_of_id, campaign.follow_up_condition, campaign.follow_up_delay_days]
    if campaign.phone_number_id:  # absent for the default number: approvals given before numbers existed hold
        snapshot["sending_number"] = campaign.phone_number_id
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def campaign_validate(campaign: Campaign, *, for_sending: bool = False) -> None:
    """Raise CampaignError (with the field) for a campaign that cannot be submitted or sent."""
    if not campaign.name.strip():
        raise CampaignError("Give the campaign a name.", field="name")
    template = campaign.template
    if template is None:
        raise CampaignError("Choose an approved WhatsApp template.", field="template")
    if not template.is_sendable:
        raise CampaignError(
            f"Template {template} is {template.get_status_display().lower()} at WhatsApp; only approved templates can be sent.",
            field="template",
        )
    if campaign.follow_up_of_id is not None:
        _follow_up_validate(campaign)
    elif campaign.segment_id is None:
        raise CampaignError("Choose a segment (the audience).", field="segment")
    try:
        parameters_validate(campaign.parameters, parameter_names=list(template.parameter_names), components=template.components)
    except ParameterMappingError as exc:
        raise CampaignError(str(exc), field="parameters") from None
    if campaign.tracked_url and not template_has_tracked_link(template):
        raise CampaignError(
            f"Template {template} has no link button with a dynamic suffix, so its link cannot be tracked.",
            field="tracked_url",
        )
    policy = FrequencyCapPolicy.current()
    for attr, ceiling in (("max_per_day", policy.max_per_day), ("max_per_week", policy.max_per_week)):
        value = getattr(campaign, attr)
        if value is not None and (value < 1 or value > ceiling):
            raise CampaignError(
                f"{attr}: a campaign may only be stricter than the global policy (1 to {ceiling}).", field=attr
            )
    try:
        variants_validate(campaign)
    except VariantError as exc:
        raise CampaignError(str(exc), field="control_percent" if str(exc).startswith("control_percent") else "variants") from None
    conversion_validate(
        event=campaign.conversion_event, value_property=campaign.conversion_value_property, window_days=campaign.conversion_window_days
    )
    if campaign.expires_at and campaign.send_at and campaign.expires_at <= campaign.send_at:
        raise CampaignError("expires_at must be after send_at.", field="expires_at")
    if campaign.phone_number_id and numbers.number_get(campaign.phone_number_id) is None:
        raise CampaignError(
            f"The sending number {campaign.phone_number_id} is not one of ours (any more): choose another.", field="phone_number_id"
        )
    if for_sending and campaign.expires_at and campaign.expires_at <= timezone.now():
        raise CampaignError("The campaign's end (expires_at) has passed.", field="expires_at")


def conversion_validate(*, event: Any, value_property: Any, window_days: Any) -> None:
    """Raise CampaignError for a conversion definition that cannot be counted."""
    if not isinstance(event, str) or not EVENT_NAME_RE.match(event):
        raise CampaignError("conversion_event: an event name of 1-100 letters, digits or _ . : - (e.g. purchase).", field="conversion_event")
    if not isinstance(value_property, str) or len(value_property) > 100:
        raise CampaignError("conversion_value_property: a property name of at most 100 characters, or empty for none.", field="conversion_value_property")
    if not isinstance(window_days, int) or not 1 <= window_days <= MAX_CONVERSION_WINDOW_DAYS:
        raise CampaignError(
            f"conversion_window_days: from 1 to {MAX_CONVERSION_WINDOW_DAYS} days.", field="conversion_window_days"
        )


@transaction.atomic
def campaign_conversion_set(*, campaign: Campaign, actor: Actor, **changes: Any) -> Campaign:
    """Change how the campaign's conversions are counted (event, value property, window), in any state.

    Not part of the approval: nothing sent depends on it, and it may be set after the campaign ended.
    """
    unknown = set(changes) - set(CONVERSION_FIELDS)
    if unknown:
        raise CampaignError(f"Cannot change {', '.join(sorted(unknown))} here; allowed: {', '.join(CONVERSION_FIELDS)}.")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    merged = {name: changes.get(name, getattr(campaign, name)) for name in CONVERSION_FIELDS}
    conversion_validate(event=merged["conversion_event"], value_property=merged["conversion_value_property"], window_days=merged["conversion_window_days"])
    changed = sorted(name for name in CONVERSION_FIELDS if getattr(campaign, name) != merged[name])
    if changed:
        for name in changed:
            setattr(campaign, name, merged[name])
        campaign.save(update_fields=[*changed, "updated_at"])
        audit_record(actor=actor, action="campaign.conversion", object_type="campaign", object_id=campaign.pk, details={n: merged[n] for n in changed})
    return campaign


FOLLOW_UP_MAX_DELAY_DAYS = 90


def _follow_up_validate(campaign: Campaign) -> None:
    """A follow-up: a known condition, a delay, a parent that has started, and no start before parent + delay."""
    if campaign.segment_id is not None:
        raise CampaignError("A follow-up's audience comes from its parent campaign; it takes no segment.", field="segment")
    if campaign.follow_up_condition not in FollowUpCondition.values:
        raise CampaignError(
            f"Choose whom to follow up: one of {', '.join(FollowUpCondition.values)}.", field="follow_up_condition"
        )  # fmt: skip
    days = campaign.follow_up_delay_days
    if days is None or not 1 <= days <= FOLLOW_UP_MAX_DELAY_DAYS:
        raise CampaignError(
            f"A follow-up waits 1 to {FOLLOW_UP_MAX_DELAY_DAYS} days after its parent's launch.", field="follow_up_delay_days"
        )  # fmt: skip
    parent = campaign.follow_up_of
    if parent is None or parent.pk == campaign.pk:
        raise CampaignError("A follow-up needs another campaign as its parent.", field="follow_up_of")
    earliest = campaign.follow_up_earliest()
    if earliest is None:
        raise CampaignError(
            f"{parent} has not started yet: a follow-up is built from its results once it has sent.", field="follow_up_of"
        )  # fmt: skip
    if campaign.send_at is None or campaign.send_at < earliest:
        raise CampaignError(
            f"This follow-up may start {days} day{'s' if days != 1 else ''} after {parent} started, "
            f"at {timezone.localtime(earliest):%Y-%m-%d %H:%M} at the earliest.",
            field="send_at",
        )


def _follow_up_schedule_default(campaign: Campaign) -> None:
    """A follow-up without a start time starts as early as it may: its parent's launch plus the delay."""
    if campaign.follow_up_of_id is not None and campaign.send_at is None:
        campaign.send_at = campaign.follow_up_earliest()


def _sending_number_normalize(phone_number_id: str | None) -> str:
    """The default number is stored as "" (whatever its id), so one campaign never has two spellings of it."""
    value = (phone_number_id or "").strip()
    default = numbers.number_default()
    return "" if default is not None and value == default.phone_number_id else value


def _user(actor: Actor) -> User | None:
    return actor.user if isinstance(actor.user, User) and actor.user.pk else None


@transaction.atomic
def campaign_create(
    *,
    actor: Actor,
    name: str,
    template: MessageTemplate | None,
    segment: Segment | None,
    parameters: list[dict] | None = None,
    tracked_url: str = "",
    send_at: datetime | None = None,
    local_time: time | None = None,
    expires_at: datetime | None = None,
    max_per_day: int | None = None,
    max_per_week: int | None = None,
    phone_number_id: str = "",
    variants: list[dict] | None = None,
    control_percent: int = 0,
    conversion_event: str = "purchase",
    conversion_value_property: str = "value",
    conversion_window_days: int = 7,
    follow_up_of: Campaign | None = None,
    follow_up_condition: str = "",
    follow_up_delay_days: int | None = None,
) -> Campaign:
    """Create a draft campaign; raises CampaignError when it could never be sent as defined.

    ``phone_number_id``: which of our numbers sends it (whatsapp.numbers); empty: the default number.
    With ``follow_up_of`` it is a follow-up (see ``follow_up_create``): no segment, its audience is
    read from the parent's messages at launch.
    """
    campaign = Campaign(
        variants=variants if variants is not None else [],
        control_percent=control_percent,
        conversion_event=conversion_event,
        conversion_value_property=conversion_value_property,
        conversion_window_days=conversion_window_days,
        name=name,
        template=template,
        segment=segment,
        parameters=parameters if parameters is not None else [],
        tracked_url=tracked_url,
        send_at=send_at,
        local_time=local_time,
        expires_at=expires_at,
        max_per_day=max_per_day,
        max_per_week=max_per_week,
        phone_number_id=_sending_number_normalize(phone_number_id),
        created_by=_user(actor),
        follow_up_of=follow_up_of,
        follow_up_condition=follow_up_condition,
        follow_up_delay_days=follow_up_delay_days,
    )
    _follow_up_schedule_default(campaign)
    campaign_validate(campaign)
    campaign.save()
    _edit_record(campaign, actor=actor, fields=list(EDITABLE_FIELDS))
    audit_record(actor=actor, action="campaign.create", object_type="campaign", object_id=campaign.pk, details={"name": name})
    return campaign


@transaction.atomic
def campaign_clone(*, campaign: Campaign, actor: Actor) -> Campaign:
    """A new draft by ``actor`` with ``campaign``'s template, segment, parameters and schedule (to change and submit)."""
    clone = campaign_create(
        actor=actor,
        name=f"Copy of {campaign.name}"[: Campaign._meta.get_field("name").max_length],
        **{name: getattr(campaign, name) for name in (*EDITABLE_FIELDS, *CONVERSION_FIELDS) if name != "name"},
        **{name: getattr(campaign, name) for name in FOLLOW_UP_FIELDS},
    )
    audit_record(
        actor=actor, action="campaign.clone", object_type="campaign", object_id=clone.pk, details={"cloned_from": campaign.pk}
    )  # fmt: skip
    return clone


FOLLOW_UP_FIELDS = ("follow_up_of", "follow_up_condition", "follow_up_delay_days")


@transaction.atomic
def follow_up_create(
    *,
    parent: Campaign,
    actor: Actor,
    condition: str,
    delay_days: int,
    name: str = "",
    template: MessageTemplate | None = None,
    parameters: list[dict] | None = None,
    tracked_url: str | None = None,
    **schedule: Any,
) -> Campaign:
    """A draft follow-up of ``parent``: to its recipients who ``condition`` (e.g. did not read) within
    ``delay_days`` of its launch. ``schedule``: send_at (by default the parent's launch plus the delay),
    local_time, expires_at and the caps, as for ``campaign_create``.

    Its template, parameters and link default to the parent's. It is a campaign like any other: its
    own approval (four eyes), and the send-time checks (consent, caps, quiet hours) of every send.
    """
    if template is None:
        template = parent.template
        parameters = parent.parameters if parameters is None else parameters
        tracked_url = parent.tracked_url if tracked_url is None else tracked_url
    follow_up = campaign_create(
        actor=actor, name=(name.strip() or f"Follow-up of {parent.name}")[: Campaign._meta.get_field("name").max_length],
        template=template, segment=None, parameters=parameters, tracked_url=tracked_url or "",
        follow_up_of=parent, follow_up_condition=condition, follow_up_delay_days=delay_days, **schedule,
    )  # fmt: skip
    audit_record(
        actor=actor, action="campaign.follow_up", object_type="campaign", object_id=follow_up.pk,
        details={"parent": parent.pk, "condition": condition, "delay_days": delay_days},
    )  # fmt: skip
    return follow_up


def campaigns_waiting_for(user: User | AnonymousUser | None) -> list[Campaign]:
    """Submitted campaigns ``user`` may approve now, oldest submission first (for the admin home)."""
    if user is None or not user.is_authenticated or not user.has_perm("campaigns.approve_campaign"):
        return []
    pending = Campaign.objects.filter(status=Campaign.Status.PENDING_APPROVAL).select_related("created_by").order_by("submitted_at", "pk")
    return [campaign for campaign in pending if user_may_approve(user, campaign)]


def _edit_record(campaign: Campaign, *, actor: Actor, fields: list[str]) -> None:
    """Remember who changed the campaign: none of them may approve it (``campaign_edits_unapproved``)."""
    CampaignEdit.objects.create(
        campaign=campaign, editor=_user(actor), editor_label=actor.display[:200], fields=fields, campaign_status=campaign.status
    )


def campaign_edits_unapproved(campaign: Campaign) -> list[CampaignEdit]:
    """The edits no approval has covered yet, oldest first: their editors may not approve the campaign."""
    return list(campaign.edits.filter(approved_at__isnull=True).select_related("editor"))


def _editor_name(edit: CampaignEdit) -> str:
    return edit.editor.get_username() if edit.editor is not None else edit.editor_label


def _back_to_draft(campaign: Campaign, *, reason: str, actor: Actor) -> None:
    campaign.status = Campaign.Status.DRAFT
    campaign.status_reason = reason
    campaign.approved_by = None
    campaign.approved_at = None
    campaign.approval_hash = ""
    campaign.save()
    audit_record(actor=actor, action="campaign.back_to_draft", object_type="campaign", object_id=campaign.pk, details={"reason": reason})
    logger.info("campaign %s back to draft: %s", campaign.pk, reason)


def _approval_recheck(campaign: Campaign, *, actor: Actor, what: str) -> bool:
    """Send the campaign back to draft if what was submitted/approved changed; True if still valid."""
    if campaign.status in _APPROVAL_PINNED and campaign.approval_hash != campaign_snapshot_hash(campaign):
        _back_to_draft(campaign, reason=f"{what} changed after submission: submit it for approval again.", actor=actor)
        return False
    return True


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor: Actor, **changes: Any) -> Campaign:
    """Change a campaign's definition. Any change to what was approved sends it back to draft."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise CampaignError(f"Cannot change {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE_FIELDS)}.")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in _CHANGEABLE:
        raise CampaignError(
            f"A {campaign.get_status_display().lower()} campaign cannot be changed"
            + (": pause it first." if campaign.status == Campaign.Status.SENDING else ".")
        )
    if "phone_number_id" in changes:
        changes["phone_number_id"] = _sending_number_normalize(changes["phone_number_id"])
    changes = {attr: value for attr, value in changes.items() if getattr(campaign, attr) != value}
    if not changes:  # the same values again (e.g. a form saved unchanged): nothing to approve anew
        return campaign
    status_before = campaign.status
    for attr, value in changes.items():
        setattr(campaign, attr, value)
    _follow_up_schedule_default(campaign)
    campaign_validate(campaign)
    campaign.save()
    _edit_record(campaign, actor=actor, fields=sorted(changes))
    audit_record(actor=actor, action="campaign.update", object_type="campaign", object_id=campaign.pk, details={"changes": sorted(changes)})
    if _approval_recheck(campaign, actor=actor, what="the campaign") and status_before in _APPROVED:
        # Four eyes: the approver saw the campaign before this change, whatever it was.
        _back_to_draft(campaign, reason=f"The campaign changed after its approval ({', '.join(sorted(changes))}): submit it for approval again.", actor=actor)
    return campaign


# --- campaigns: four-eyes lifecycle -------------------------------------------------------------


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update(of=("self",)).select_related("template", "segment").get(pk=campaign.pk)


def _require_status(campaign: Campaign, *allowed: str, action: str) -> None:
    if campaign.status not in allowed:
        names = " or ".join(Campaign.Status(s).label.lower() for s in allowed)
        raise CampaignError(f"Only a {names} campaign can be {action}; this one is {campaign.get_status_display().lower()}.")


def user_may_approve(user: User | AnonymousUser | None, campaign: Campaign) -> bool:
    """Four eyes: an approver, and never the campaign's author nor anyone who changed it since its last approval."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.has_perm("campaigns.approve_campaign")
        and user.pk != campaign.created_by_id
        and not user_changed_campaign(user, campaign)
    )


def user_changed_campaign(user: User | AnonymousUser | None, campaign: Campaign) -> bool:
    """Whether ``user`` changed the campaign since its last approval (superusers alike)."""
    return user is not None and user.pk is not None and campaign.edits.filter(approved_at__isnull=True, editor_id=user.pk).exists()


@transaction.atomic
def campaign_submit(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Ask for approval: pins the snapshot the approver will see."""
    campaign = _locked(campaign)
    _require_status(campaign, Campaign.Status.DRAFT, action="submitted")
    campaign_validate(campaign)
    campaign.status = Campaign.Status.PENDING_APPROVAL
    campaign.status_reason = ""
    campaign.submitted_at = timezone.now()
    campaign.approval_hash = campaign_snapshot_hash(campaign)
    campaign.save()
    audit_record(actor=actor, action="campaign.submit", object_type="campaign", object_id=campaign.pk, details={"hash": campaign.approval_hash})
    campaign_submitted_notify(campaign, may_approve=user_may_approve)
    return campaign


@transaction.atomic
def campaign_approve(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Approve (a second person with the Approver role); starts it now or schedules it for send_at."""
    campaign = _locked(campaign)
    if actor.user is not None and actor.user.pk == campaign.created_by_id:
        raise CampaignForbidden("You wrote this campaign: a second person must approve it (four-eyes rule).")
    if user_changed_campaign(actor.user, campaign):
        raise CampaignForbidden("You changed this campaign since it was last approved: a second person must approve it (four-eyes rule).")
    if not user_may_approve(actor.user, campaign):
        raise CampaignForbidden("Approving campaigns needs the Approver role.")
    _require_status(campaign, Campaign.Status.PENDING_APPROVAL, action="approved")
    if not _approval_recheck(campaign, actor=actor, what="the campaign"):
        raise CampaignError(campaign.status_reason)
    campaign_validate(campaign, for_sending=True)
    now = timezone.now()
    campaign.approved_by = _user(actor)
    campaign.approved_at = now
    campaign.status = Campaign.Status.SCHEDULED
    campaign.status_reason = ""
    campaign.rejection_comment = ""
    campaign.save()
    edits = campaign_edits_unapproved(campaign)
    editors = list(dict.fromkeys([*(_editor_name(edit) for edit in edits), *([campaign.created_by.get_username()] if campaign.created_by else [])]))
    CampaignEdit.objects.filter(pk__in=[edit.pk for edit in edits]).update(approved_at=now)
    audit_record(
        actor=actor, action="campaign.approve", object_type="campaign", object_id=campaign.pk,
        details={"hash": campaign.approval_hash, "editors": editors},
    )  # fmt: skip
    if campaign.send_at is None or campaign.send_at <= now:
        _launch_enqueue(campaign.pk)
    campaign_decided_notify(campaign, approved=True)
    return campaign


@transaction.atomic
def campaign_reject(*, campaign: Campaign, actor: Actor, comment: str) -> Campaign:
    """Send a submitted campaign back to its author with the approver's comment."""
    campaign = _locked(campaign)
    if not (actor.user is not None and actor.user.has_perm("campaigns.approve_campaign")):
        raise CampaignForbidden("Rejecting campaigns needs the Approver role.")
    _require_status(campaign, Campaign.Status.PENDING_APPROVAL, action="rejected")
    if not comment or not comment.strip():
        raise CampaignError("Say what must change: a rejection needs a comment.", field="comment")
    campaign.status = Campaign.Status.DRAFT
    campaign.rejected_by = _user(actor)
    campaign.rejection_comment = comment.strip()
    campaign.status_reason = f"Rejected: {comment.strip()}"
    campaign.approval_hash = ""
    campaign.save()
    audit_record(actor=actor, action="campaign.reject", object_type="campaign", object_id=campaign.pk, details={"comment": comment})
    campaign_decided_notify(campaign, approved=False)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor: Actor, reason: str = "") -> Campaign:
    """Stop claiming new batches; sends already in flight finish. ``reason`` shows in the admin."""
    campaign = _locked(campaign)
    _require_status(campaign, Campaign.Status.SENDING, Campaign.Status.SCHEDULED, action="paused")
    campaign.status = Campaign.Status.PAUSED
    campaign.status_reason = reason or f"Paused by {actor.display}."
    campaign.save()
    audit_record(actor=actor, action="campaign.pause", object_type="campaign", object_id=campaign.pk, details={"reason": campaign.status_reason})
    logger.warning("campaign %s paused: %s", campaign.pk, campaign.status_reason)
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Continue a paused campaign, if its approval and template are still valid."""
    campaign = _locked(campaign)
    _require_status(campaign, Campaign.Status.PAUSED, action="resumed")
    problem = account_sending_blocked()
    if problem is not None:
        raise CampaignError(
            f"The WhatsApp account has an open problem (error {problem.code}): {problem.explanation} "
            "Fix it at Meta and clear it on the dashboard first."
        )
    if not _approval_recheck(campaign, actor=actor, what="the campaign"):
        raise CampaignError(campaign.status_reason)
    campaign_validate(campaign, for_sending=True)
    campaign.status_reason = ""
    if campaign.launched_at is None:
        campaign.status = Campaign.Status.SCHEDULED
        campaign.save()
        if campaign.send_at is None or campaign.send_at <= timezone.now():
            _launch_enqueue(campaign.pk)
    else:
        campaign.status = Campaign.Status.SENDING
        campaign.save()
        _dispatch_enqueue(campaign.pk)
    unknown_codes_reset(campaign.pk)
    audit_record(actor=actor, action="campaign.resume", object_type="campaign", object_id=campaign.pk)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Stop for good: every message not yet sent is skipped with the reason ``cancelled``."""
    campaign = _locked(campaign)
    if campaign.status in _FINISHED:
        raise CampaignError(f"This campaign is {campaign.get_status_display().lower()} already.")
    campaign.status = Campaign.Status.CANCELLED
    campaign.save()
    skipped = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SKIPPED, skip_reason="cancelled", claim_token=None, lease_expires_at=None
    )
    audit_record(actor=actor, action="campaign.cancel", object_type="campaign", object_id=campaign.pk, details={"skipped": skipped})
    return campaign


# --- campaigns: launch and completion -----------------------------------------------------------


def _launch_enqueue(campaign_id: int) -> None:
    from campaigns.tasks import campaign_launch_task

    transaction.on_commit(lambda: campaign_launch_task.delay(campaign_id))


def _dispatch_enqueue(campaign_id: int) -> None:
    from campaigns.tasks import dispatchers_start

    transaction.on_commit(lambda: dispatchers_start(campaign_id))


@transaction.atomic
def campaign_launch(*, campaign_id: int, actor: Actor = SYSTEM) -> Campaign | None:
    """Start a scheduled campaign: one message row per audience member, then the dispatchers.

    Idempotent: a campaign not (or no longer) scheduled is left alone. The approval is checked
    against the campaign as it is now; a change since then sends it back to draft instead.
    """
    # FOR NO KEY UPDATE: it still keeps every other writer of the campaign out (pause, cancel, a
    # second launch), and lets through the KEY SHARE lock of the foreign-key checks of the rows that
    # messages_materialise writes on connections of its own.
    campaign = (
        Campaign.objects.select_for_update(of=("self",), no_key=True)
        .select_related("template", "segment")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None or campaign.status != Campaign.Status.SCHEDULED:
        return campaign
    if not _approval_recheck(campaign, actor=actor, what="the campaign"):
        return campaign
    try:
        campaign_validate(campaign, for_sending=True)
    except CampaignError as exc:
        campaign.status = Campaign.Status.PAUSED
        campaign.status_reason = f"Could not start: {exc}"
        campaign.save()
        audit_record(actor=actor, action="campaign.pause", object_type="campaign", object_id=campaign.pk, details={"reason": campaign.status_reason})
        return campaign
    now = timezone.now()
    # A big audience is written on connections of their own, each committing before this transaction
    # does: a launch that failed after that left rows of a campaign still scheduled. No dispatcher
    # ever claimed them (only a sending campaign has one), and the campaign may have changed since
    # (its audience, its variants): they go, and this launch writes the audience as it is now, in
    # this transaction (its own rows would wait for this one's delete on other connections).
    leftovers = campaign.launched_at is None and _launch_leftovers_delete(campaign)
    created = messages_materialise(campaign=campaign, start=max(campaign.send_at or now, now), side_by_side=not leftovers)
    campaign.status = Campaign.Status.SENDING
    campaign.launched_at = campaign.launched_at or now
    campaign.save()
    audit_record(actor=actor, action="campaign.launch", object_type="campaign", object_id=campaign.pk, details={"messages": created})
    logger.info("campaign %s launched with %s new messages", campaign.pk, created)
    _dispatch_enqueue(campaign.pk)
    return campaign


def _launch_leftovers_delete(campaign: Campaign) -> int:
    """Delete the rows a failed launch of this never-launched campaign committed; how many.

    In SQL: nothing refers to rows never sent (no click, no status), and the ORM's delete would first
    load every id to look for such references (up to a million).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Message._meta.db_table} WHERE campaign_id = %s AND kind = %s",
            [campaign.pk, Message.Kind.CAMPAIGN],
        )
        deleted = cursor.rowcount
    if deleted:
        logger.warning("campaign %s: %s message(s) of a failed launch deleted before launching again", campaign.pk, deleted)
    return deleted


@transaction.atomic
def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Mark a sending campaign completed when no message is queued (incl. deferred) or sending."""
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None:
        return False
    if campaign.expires_at and campaign.expires_at <= timezone.now():
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED, lease_expires_at__isnull=True).update(
            status=MessageStatus.SKIPPED, skip_reason="expired"
        )
    if Message.objects.filter(campaign=campaign, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]).exists():
        return False
    campaign.status = Campaign.Status.COMPLETED
    campaign.completed_at = timezone.now()
    campaign.save()
    audit_record(actor=SYSTEM, action="campaign.complete", object_type="campaign", object_id=campaign.pk)
    return True


def campaigns_due_launch(*, now: datetime | None = None) -> list[int]:
    """Launch every scheduled campaign whose time has come; returns their ids."""
    now = now or timezone.now()
    due = list(
        Campaign.objects.filter(status=Campaign.Status.SCHEDULED)
        .exclude(send_at__gt=now)
        .values_list("pk", flat=True)
    )
    for campaign_id in due:
        campaign_launch(campaign_id=campaign_id)
    return due


def campaigns_tick(*, now: datetime | None = None) -> None:
    """The periodic heartbeat of sending (run by beat every few seconds).

    Launches due scheduled campaigns, turns rows left SENDING by a stopped worker into UNKNOWN,
    starts dispatchers for sending campaigns with due messages and nobody working on them (e.g.
    deferred messages whose time came, or after a worker died), and completes finished campaigns.
    """
    from campaigns.tasks import dispatchers_start as dispatchers_start_task

    now = now or timezone.now()
    campaigns_due_launch(now=now)
    leases_expire(now=now)
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True):
        # A campaign whose dispatchers are at work needs nothing from the tick: they send what is due
        # and complete it when they run out. Asking them first (Redis) spares the database a look for
        # due rows every tick, which walked the dead versions of every row sent so far and grew with
        # the campaign (at 88% of 100,000 rows one look read 88,000 rows: about a second per tick).
        if dispatcher_active(campaign_id):
            continue
        if messages_claimable_exist(campaign_id=campaign_id, now=now):
            dispatchers_start_task(campaign_id)
        else:
            campaign_complete_if_done(campaign_id=campaign_id)


# --- status reports from webhooks ---------------------------------------------------------------

_STATUS_TIMESTAMP_FIELD: dict[str, str] = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}


@dataclass(frozen=True)
class StatusReport:
    """One status from a WhatsApp webhook, already parsed."""

    wamid: str
    status: str  # sent | delivered | read | failed
    at: datetime
    callback_data: str = ""
    error_code: int | None = None
    error_title: str = ""
    error_detail: str = ""
    # The status's ``pricing`` (flat: the report is hashable).
    pricing_category: str = ""
    pricing_type: str = ""
    pricing_model: str = ""
    pricing_billable: bool | None = None


def _message_id_from_callback(callback_data: str) -> uuid.UUID | None:
    prefix, _, raw = (callback_data or "").partition(":")
    if prefix != "msg":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _failure_comes_too_late(message: Message, report: StatusReport) -> bool:
    """A ``failed`` for a message already delivered or read: it reached the person, so it stays so."""
    return report.status == MessageStatus.FAILED and STATUS_RANK.get(message.status, 0) >= STATUS_RANK[MessageStatus.DELIVERED]


def _status_report_merge(message: Message, report: StatusReport) -> set[str]:
    """Move ``message`` forward by ``report``, in memory; returns the fields that changed.

    Statuses only move forward (sent < delivered < read), so a late ``delivered`` after ``read``
    only fills in its timestamp. ``failed`` is final, and comes only before delivery: a ``failed``
    arriving after the message was delivered or read is ignored (logged), alone or within a batch.
    """
    changed = set()
    if not message.wamid:  # found through its callback data: the send was never recorded
        message.wamid = report.wamid
        changed.add("wamid")
    if _failure_comes_too_late(message, report):
        logger.warning(
            "status failed (error %s) for message %s ignored: it was %s already", report.error_code, report.wamid, message.status
        )
        return changed
    timestamp_field = _STATUS_TIMESTAMP_FIELD.get(report.status)
    if timestamp_field and getattr(message, timestamp_field) is None:
        setattr(message, timestamp_field, report.at)
        changed.add(timestamp_field)
    if report.pricing_category or report.pricing_type or report.pricing_model:
        for name in ("pricing_category", "pricing_type", "pricing_model", "pricing_billable"):
            value = getattr(report, name)
            if value not in ("", None) and getattr(message, name) != value:
                setattr(message, name, value)
                changed.add(name)
    if message.status != MessageStatus.FAILED:
        if report.status == MessageStatus.FAILED and report.error_code == HELD_BACK_CODE and message.kind == Message.Kind.CAMPAIGN:
            message.error_code, message.error_title, message.error_detail = report.error_code, report.error_title[:300], report.error_detail
            outcome = held_back_requeue(message, report.at)
            message.decision = {**message.decision, "result": {"at": report.at.isoformat(), "code": report.error_code, "outcome": outcome}}
            changed |= {"status", "send_after", "failed_at", "wamid", "attempts", "decision", "error_code", "error_title", "error_detail"}
        elif report.status == MessageStatus.FAILED:
            message.status = MessageStatus.FAILED
            message.error_code = report.error_code
            message.error_title = report.error_title[:300]
            message.error_detail = report.error_detail
            changed |= {"status", "error_code", "error_title", "error_detail"}
        elif STATUS_RANK.get(report.status, 0) > STATUS_RANK.get(message.status, 0):
            message.status = report.status
            changed.add("status")
    return changed


@transaction.atomic
def message_status_apply(report: StatusReport) -> Message | None:
    """Move one message forward by a status report; returns the message, or None when unknown.

    See ``_status_report_merge``. A message whose send was never recorded (the worker died after
    the HTTP call) is found through ``biz_opaque_callback_data``.
    """
    message = Message.objects.select_for_update().filter(wamid=report.wamid).first()
    if message is None:
        message_id = _message_id_from_callback(report.callback_data)
        if message_id is not None:
            message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None:
        return None
    changed = _status_report_merge(message, report)
    if changed:
        message.save(update_fields=sorted(changed))
    return message


@transaction.atomic
def message_statuses_apply(reports: list[StatusReport]) -> list[Message | None]:
    """``message_status_apply`` for many reports, in their order: one locking read and one write.

    Returns the message of each report (None when unknown).
    """
    if not reports:
        return []
    callback_ids = {report: _message_id_from_callback(report.callback_data) for report in reports}
    found = list(
        Message.objects.select_for_update()
        # "wamid IS NOT NULL" in the wamid arm: the partial unique index on wamid serves it.
        .filter(Q(wamid__in={report.wamid for report in reports}, wamid__isnull=False) | Q(pk__in={i for i in callback_ids.values() if i}))
        .order_by("pk")  # the lock order of every writer of message rows
    )
    by_wamid = {message.wamid: message for message in found if message.wamid}
    by_id = {message.pk: message for message in found}
    changed: set[str] = set()
    touched: dict[uuid.UUID, Message] = {}
    results: list[Message | None] = []
    for report in reports:
        callback_id = callback_ids[report]
        message = by_wamid.get(report.wamid) or (by_id.get(callback_id) if callback_id else None)
        if message is not None:
            fields = _status_report_merge(message, report)
            if message.wamid:
                by_wamid.setdefault(message.wamid, message)
            if fields:
                changed |= fields
                touched[message.pk] = message
        results.append(message)
    # Rows are locked and read fresh: writing the union of changed fields back is exact for every row.
    rows_update(Message, list(touched.values()), sorted(changed))
    return results
