"""Support's admin pages: find a person by number or name, their one timeline, the inbox of replies, answering.

Routed under /admin/support/ (consent/support_urls.py) with the admin's login and look. Recording
an opt-out or opt-in, export, correction and erasure are the contact admin's own pages
(consent/admin.py); the timeline links to them. Each view parses input, calls a selector or a
service and renders.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns.analytics import REASON_LABELS
from campaigns.caps import zone
from campaigns.eligibility import ELIGIBLE, FREQUENCY_CAP, QUIET_HOURS
from campaigns.sending.decide import Verdict, queued_forecast
from consent.models import ConsentStatus, Contact
from consent.phones import InvalidPhoneNumber, phone_normalize
from consent.selectors import (
    NAME_MATCHES_SHOWN,
    contact_find_by_phone,
    contacts_named,
    contacts_with_consent_status,
    phone_search_numbers,
)
from consent.services import contact_is_suppressed
from consent.unsubscribe import unsubscribe_url
from conversations.assignment import (
    ANSWER_PERMISSION,
    AssignmentRefused,
    conversation_assign,
    conversation_unassign,
    support_agents,
)
from conversations.inbox import (
    SHOW_CHOICES,
    InboxCursor,
    ReplyRefused,
    inbox_answers,
    inbox_page,
    inbox_waiting_count,
    support_reply,
)
from conversations.models import CannedReply, ConversationAssignment
from conversations.timeline import contact_timeline
from core.admin import staff_actor
from core.redirects import safe_next

if TYPE_CHECKING:
    from consent.selectors import ContactWithConsent

VIEW_MESSAGES_PERMISSION = "campaigns.view_message"


def _require(request: HttpRequest, *permissions: str) -> None:
    if not request.user.has_perms(permissions):
        raise PermissionDenied


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def find_view(request: HttpRequest) -> HttpResponse:
    """Find a person by a number typed in any format or by name; one found: straight to their timeline.

    The form posts the number, so it stays out of URLs, browser history and the web server's
    access log; a ``?phone=`` link still works (the access log masks it, see retarget/gunicorn_conf.py).
    """
    _require(request, "consent.view_contact")
    raw = (request.POST if request.method == "POST" else request.GET).get("phone", "").strip()
    problem = ""
    named: list[Contact] = []
    if raw:
        # "+49 151…" and "0151…" (read with PHONE_DEFAULT_REGION) directly; "49151…" as WhatsApp writes it too.
        numbers = phone_search_numbers(raw)
        contact = contact_find_by_phone(raw) or Contact.objects.filter(phone__in=numbers).order_by("pk").first()
        if contact is None and not numbers and any(ch.isalpha() for ch in raw):
            named = contacts_named(raw)
            if len(named) == 1:
                contact = named[0]
        if contact is not None:
            return HttpResponseRedirect(reverse("support-timeline", args=[contact.pk]))
        if numbers:
            problem = f"No one with the number {' or '.join(numbers)} is in Retarget. (An erased person cannot be found by number.)"
        elif named:
            pass  # several people of that name: the page lists them
        elif any(ch.isalpha() for ch in raw) and not any(ch.isdigit() for ch in raw):
            problem = f"No one named “{raw}” is in Retarget. Try part of the name, or their number."
        else:
            try:
                phone_normalize(raw)
            except InvalidPhoneNumber as exc:
                problem = f"“{raw}” is not a phone number we can read: {exc}"
    return _page(
        request, "support/find.html", "Find a person",
        phone=raw, problem=problem, named=named, named_limit=NAME_MATCHES_SHOWN, default_region=settings.PHONE_DEFAULT_REGION,
    )  # fmt: skip


def _forecast_text(verdict: Verdict | None) -> str:
    """What the send-time check would decide now, in the recipient's own time for a wait."""
    if verdict is None or verdict.reason == ELIGIBLE:
        return ""
    if verdict.send_after is None:
        return f"will be skipped: {REASON_LABELS.get(verdict.reason, verdict.reason).lower()}"
    zone_name = verdict.row.get("time_zone") or "UTC"
    local = verdict.send_after.astimezone(zone(zone_name))
    why = {QUIET_HOURS: "quiet hours", FREQUENCY_CAP: "frequency cap"}.get(verdict.reason, verdict.reason)
    return f"will wait: {why} until {local:%Y-%m-%d %H:%M} {zone_name} (the recipient's time)"


def _message_view(message: Any, verdict: Verdict | None = None) -> dict[str, Any]:
    decision = message.decision or {}
    result = decision.get("result")
    result = result if isinstance(result, dict) else {}
    return {
        "reason": REASON_LABELS.get(decision.get("reason", ""), decision.get("reason", "")),
        "outcome": decision.get("outcome", ""),
        "result": result.get("outcome", ""),
        "consent_event": decision.get("consent_event"),
        "deferred_until": decision.get("deferred_until", ""),
        "json": json.dumps(decision, indent=2, sort_keys=True, cls=DjangoJSONEncoder),
        "forecast": _forecast_text(verdict),
    }


def timeline_view(request: HttpRequest, contact_id: int) -> HttpResponse:
    _require(request, "consent.view_contact")
    contact: ContactWithConsent = get_object_or_404(contacts_with_consent_status(), pk=contact_id)
    before = None
    if request.GET.get("before"):
        try:
            before = datetime.fromisoformat(request.GET["before"])
        except ValueError:
            before = None
    page = contact_timeline(contact, before=before, with_messages=request.user.has_perm(VIEW_MESSAGES_PERMISSION))
    messages_shown = [e.item for e in page.entries if e.kind == "message"]
    for message in messages_shown:
        message.contact = contact  # the page's own person: no query per message
    forecast = queued_forecast(messages_shown, timezone.now())
    entries = [
        {"entry": e, **(_message_view(e.item, forecast.get(e.item.pk)) if e.kind == "message" else {})}
        for e in page.entries
    ]
    user = request.user
    here = request.get_full_path()
    erased = bool(contact.erased_at)
    return _page(
        request, "support/timeline.html", str(contact),
        contact=contact, entries=entries, older=page.older.isoformat() if page.older else "", newer=bool(before),
        consent_label=ConsentStatus(contact.marketing_consent).label, consent_status=contact.marketing_consent,
        suppressed=contact_is_suppressed(contact),
        window_open=contact.service_window_open(), window_closes_at=contact.service_window_closes_at(),
        can_record=user.has_perm("consent.add_consentevent") and not erased,
        can_export=user.has_perm("consent.export_contact"),
        can_erase=user.has_perm("consent.erase_contact") and not erased,
        can_rectify=user.has_perm("consent.rectify_contact") and not erased,
        can_answer=user.has_perm(ANSWER_PERMISSION) and not erased,
        unsubscribe_link=unsubscribe_url(contact) if user.has_perm(ANSWER_PERMISSION) and not erased else "",
        here=here, with_messages=user.has_perm(VIEW_MESSAGES_PERMISSION),
        assignment=ConversationAssignment.objects.filter(contact=contact).select_related("agent").first(),
        agents=support_agents() if user.has_perm(ANSWER_PERMISSION) else [],
        canned_replies=CannedReply.objects.all() if user.has_perm(ANSWER_PERMISSION) else [],
    )  # fmt: skip


def inbox_view(request: HttpRequest) -> HttpResponse:
    _require(request, ANSWER_PERMISSION, "consent.view_contact")
    show = request.GET.get("show", "all")
    show = show if show in SHOW_CHOICES else "all"
    cursor = InboxCursor.decode(request.GET.get("before", ""))
    page = inbox_page(show=show, before=cursor)
    answers = inbox_answers(page.items)
    assignments = {
        a.contact_id: a
        for a in ConversationAssignment.objects.filter(
            contact_id__in={m.contact_id for m in page.items if m.contact_id}
        ).select_related("agent")
    }
    rows = [
        {"item": m, "answer": answers.get(m.pk), "assignment": assignments.get(m.contact_id or 0)} for m in page.items
    ]
    return _page(
        request, "support/inbox.html", "Inbox: what people wrote",
        rows=rows, canned_replies=CannedReply.objects.all(), older=page.older.encode() if page.older else "", show=show, shows=SHOW_CHOICES,
        waiting=inbox_waiting_count(), here=request.get_full_path(), newer=cursor is not None,
    )  # fmt: skip


@require_POST
def reply_view(request: HttpRequest, contact_id: int) -> HttpResponse:
    _require(request, ANSWER_PERMISSION)
    contact = get_object_or_404(Contact, pk=contact_id)
    actor = staff_actor(request)
    try:
        support_reply(contact=contact, body=request.POST.get("body", ""), actor=actor)
    except ReplyRefused as exc:
        messages.error(request, f"Not sent: {exc}")
    else:
        messages.success(request, f"Answer to {contact} queued; its status shows on the timeline.")
    return HttpResponseRedirect(safe_next(request, reverse("support-timeline", args=[contact.pk])))


@require_POST
def assign_view(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Assign the person's conversation to an agent (``agent``: a user id, empty for oneself), or free it (``unassign``)."""
    _require(request, ANSWER_PERMISSION)
    contact = get_object_or_404(Contact, pk=contact_id)
    actor = staff_actor(request)
    if request.POST.get("unassign"):
        conversation_unassign(contact=contact, actor=actor)
        messages.success(request, f"{contact}'s conversation is no longer assigned.")
    else:
        raw = request.POST.get("agent", "")
        agent = User.objects.filter(pk=raw).first() if raw.isdigit() else request.user
        try:
            if not isinstance(agent, User):
                raise AssignmentRefused("That agent does not exist (any more).")
            conversation_assign(contact=contact, agent=agent, actor=actor)
        except AssignmentRefused as exc:
            messages.error(request, f"Not assigned: {exc}")
        else:
            messages.success(request, f"{contact}'s conversation is assigned to {agent.get_username()}.")
    return HttpResponseRedirect(safe_next(request, reverse("support-timeline", args=[contact.pk])))
