"""Purpose-built admin pages of the campaigns side: the campaign builder, the approver's review,
the live page (progress, controls, results), the per-recipient CSV, the dashboard and the guide.

CampaignAdmin.get_urls wires them into the admin (the guide is wired by retarget/urls.py), so they
share its login, permissions and look. Each view parses input, calls a service or a selector and
renders; the figures come from campaigns.analytics, the message previews from campaigns.previews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from campaigns import analytics, selectors, services
from campaigns.attribution import campaign_earnings
from campaigns.charts import line_chart, stacked_bar_chart
from campaigns.eligibility import EXCLUSION_REASONS
from campaigns.exports import csv_stream
from campaigns.forms import FIELD_HELP, SOURCE_CHOICES, CampaignBuilderForm, template_cards
from campaigns.models import Campaign, FollowUpCondition, FrequencyCapPolicy
from campaigns.parameters import mapping_for_preview, template_has_tracked_link
from campaigns.previews import TestSendRefused, campaign_test_send, message_preview
from campaigns.rich_form import rich_field_names
from campaigns.variants import variant_descriptions
from consent.keywords import HELP_KEYWORDS, OPTIN_KEYWORDS, OPTOUT_KEYWORDS
from consent.models import Contact
from core.audit import Actor, audit_record
from core.client_ip import client_ip
from whatsapp.account import AccountProblemError, account_problem_clear, account_problems_open, messaging_limit_current
from whatsapp.numbers import number_get
from whatsapp.sandbox_links import sandbox_phone_url

if TYPE_CHECKING:
    from campaigns.admin import CampaignAdmin

SERIES_CSS = {"sent": "series-sent", "read": "series-read", "delivered": "series-delivered", "failed": "series-failed",
              "skipped": "series-skipped", "waiting": "series-waiting", "opted in": "series-sent"}  # fmt: skip


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, label=f"admin: {request.user.get_username()}", ip_address=client_ip(request))


def _require(request: HttpRequest, *permissions: str) -> None:
    if not request.user.has_perms(permissions):
        raise PermissionDenied


def _page(request: HttpRequest, model_admin: ModelAdmin, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(
        request, template, {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "title": title, **context}
    )


def _campaign(campaign_id: int) -> Campaign:
    return get_object_or_404(
        Campaign.objects.select_related("template", "segment", "created_by", "approved_by", "follow_up_of"), pk=campaign_id
    )


def campaign_pages(campaign: Campaign, user: Any) -> list[tuple[str, str]]:
    """The tabs of a campaign's pages the user may open."""
    pages = []
    if user.has_perm("campaigns.change_campaign"):
        pages.append(("Build", reverse("admin:campaigns_campaign_build", args=[campaign.pk])))
    pages.append(("Review", reverse("admin:campaigns_campaign_review", args=[campaign.pk])))
    pages.append(("Progress and results", reverse("admin:campaigns_campaign_live", args=[campaign.pk])))
    return pages


# --- the builder -----------------------------------------------------------------------------------


def _preview_for(form: CampaignBuilderForm, contact: Contact | None) -> tuple[dict[str, Any] | None, str]:
    """The rendered message for the form's template and mapping, and what is still to fill in words.

    An unfinished mapping still shows the message: unfilled placeholders as written, fallbacks
    where no person is there to read values from (campaigns.parameters.mapping_for_preview).
    """
    template = form.selected_template()
    if template is None:
        return None, "Choose a template to see the message."
    given = form.mapping(template.parameter_count)
    mapping, still_to_fill = mapping_for_preview(given, template, with_contact=contact is not None)
    if isinstance(given, dict):  # the header, coupon, offer and cards box, when it cannot be read
        still_to_fill += [key.strip("()") for key in given if key.startswith("(")]
    tracked_url = (form.data.get("tracked_url", "") if form.is_bound else form.initial.get("tracked_url", "")) or ""
    preview = message_preview(template=template, parameters=mapping, contact=contact, tracked_url=tracked_url)
    note = f"Still to fill: {'; '.join(still_to_fill)}." if still_to_fill else ""
    return preview.as_dict(), note


def _preview_contact(request: HttpRequest, samples: list[Contact]) -> Contact | None:
    chosen = request.POST.get("preview_contact") or request.GET.get("preview_contact")
    if chosen and str(chosen).isdigit():
        return next((c for c in samples if c.pk == int(chosen)), None) or Contact.objects.filter(pk=chosen, erased_at__isnull=True).first()
    return samples[0] if samples else None


# While these hold, the Build tab shows the campaign read-only: sending ones are paused first, finished ones cloned.
BUILD_LOCKED = (Campaign.Status.SENDING, Campaign.Status.COMPLETED, Campaign.Status.CANCELLED)


def audience_warning(count: int | None, messaging_limit: int) -> str:
    """The builder's warning beside the segment count (builder.js words it the same way as the count changes)."""
    if count == 0:
        return "No one is in this segment now: a campaign to it would send nothing."
    if count is not None and messaging_limit and count > messaging_limit:
        return (f"{count} people are more than the account's messaging limit of {messaging_limit} a day: "
                "if they all may be messaged, sending takes several days.")  # fmt: skip
    return ""


def builder_view(request: HttpRequest, model_admin: ModelAdmin, campaign_id: int | None = None) -> HttpResponse:
    campaign = _campaign(campaign_id) if campaign_id else None
    _require(request, "campaigns.change_campaign" if campaign else "campaigns.add_campaign")
    locked = campaign is not None and campaign.status in BUILD_LOCKED
    form = CampaignBuilderForm(request.POST or None, campaign=campaign)
    action = request.POST.get("action", "save")
    if request.method == "POST" and locked:
        messages.error(request, f"A {campaign.get_status_display().lower()} campaign cannot be changed here.")  # type: ignore[union-attr]
        return HttpResponseRedirect(request.path)
    if request.method == "POST" and action in ("save", "submit", "submit_anyway") and form.is_valid():
        done = _builder_save(request, form, campaign, submit=action != "save", confirmed=action == "submit_anyway")
        if done is not None:
            return done
    segment, selected_template = form.selected_segment(), form.selected_template()
    if campaign is not None and campaign.is_follow_up:
        samples = selectors.follow_up_audience_sample(campaign)
        audience_count: int | None = selectors.follow_up_audience_count(campaign)
    else:
        samples = selectors.segment_sample(segment) if segment else []
        audience_count = selectors.segment_count(segment) if segment else None
    contact = _preview_contact(request, samples)
    preview, preview_note = _preview_for(form, contact)
    rows = form.parameter_rows()
    messaging_limit, _tier = selectors.messaging_limit_daily()
    draft = campaign is not None and campaign.status == Campaign.Status.DRAFT and not form.is_bound
    return _page(
        request, model_admin, "campaigns/builder.html", f"Campaign: {campaign.name}" if campaign else "New campaign",
        crumb="Build", campaign=campaign, form=form, parameter_rows=rows, parameter_count=sum(row["shown"] for row in rows),
        template_cards=template_cards(selected_template),
        source_help=FIELD_HELP, sources=SOURCE_CHOICES, policy=FrequencyCapPolicy.current(), time_zone=settings.TIME_ZONE,
        segment_count=audience_count, samples=samples, preview_contact=contact,
        audience_warning=audience_warning(audience_count, messaging_limit), messaging_limit=messaging_limit,
        submit_warnings=selectors.campaign_submit_warnings(campaign) if draft and campaign else [],
        confirm_submit=draft and request.GET.get("confirm") == "1",
        preview=preview, preview_note=preview_note, link_base=f"{settings.PUBLIC_BASE_URL.rstrip('/')}/r/",
        template_link=selected_template is not None and template_has_tracked_link(selected_template),
        pages=campaign_pages(campaign, request.user) if campaign else [],
        test_number=getattr(request.user, "test_number", None) if campaign else None,
        paused_template=campaign is not None and campaign.template is not None and not campaign.template.is_sendable,
        locked=locked,
        pause_url=reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "pause"]) if locked and campaign else "",
        clone_url=reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "clone"])
        if locked and campaign and request.user.has_perm("campaigns.add_campaign") else "",
    )  # fmt: skip


def _builder_save(
    request: HttpRequest, form: CampaignBuilderForm, campaign: Campaign | None, *, submit: bool, confirmed: bool = False
) -> HttpResponse | None:
    data, conversion = form.campaign_fields(), form.conversion_fields()
    actor = _actor(request)
    warnings: list[str] = []
    try:
        if campaign is None:
            campaign = services.campaign_create(actor=actor, **data, **conversion)
        else:
            changed = {name: value for name, value in data.items() if getattr(campaign, name) != value}
            if changed:
                campaign = services.campaign_update(campaign=campaign, actor=actor, **changed)
            campaign = services.campaign_conversion_set(campaign=campaign, actor=actor, **conversion)
        if submit and not confirmed:
            warnings = selectors.campaign_submit_warnings(campaign)
        if submit and not warnings:
            campaign = services.campaign_submit(campaign=campaign, actor=actor)
    except (services.CampaignError, services.CampaignForbidden) as exc:
        field = getattr(exc, "field", None)
        if field == "parameters":
            form.add_parameters_error(str(exc))
        else:
            form.add_error(field if field in form.fields else None, str(exc))
        return None
    build_url = reverse("admin:campaigns_campaign_build", args=[campaign.pk])
    if warnings:
        # Saved, not submitted: the page lists the warnings and offers "Submit anyway".
        messages.warning(request, "Saved, not submitted yet: read the warnings below before you submit.")
        return HttpResponseRedirect(f"{build_url}?confirm=1#submit-warnings")
    if submit:
        messages.success(request, "Submitted for approval. An approver (another person) reviews it next.")
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_review", args=[campaign.pk]))
    if campaign.status == Campaign.Status.DRAFT and campaign.status_reason:
        messages.warning(request, campaign.status_reason)
    messages.success(request, "Draft saved.")
    return HttpResponseRedirect(build_url)


@require_POST
def preview_json_view(request: HttpRequest, model_admin: ModelAdmin) -> JsonResponse:
    """The message as a sample person would see it, for the builder's live preview."""
    if not (request.user.has_perm("campaigns.add_campaign") or request.user.has_perm("campaigns.change_campaign")):
        raise PermissionDenied
    form = CampaignBuilderForm(request.POST)
    segment = form.selected_segment()
    contact = _preview_contact(request, selectors.segment_sample(segment) if segment else [])
    preview, note = _preview_for(form, contact)
    html = render_to_string("campaigns/_preview.html", {"preview": preview, "preview_note": note})
    # The structured inputs and the Advanced JSON box, saying the same (builder.js updates the other one).
    rich = {name: form.data.get(name, "") for name in ("parameters_more", *rich_field_names())}
    return JsonResponse({"preview": preview, "note": note, "contact": str(contact) if contact else "", "html": html, "rich": rich})


@require_POST
def test_send_view(request: HttpRequest, model_admin: ModelAdmin, campaign_id: int) -> HttpResponse:
    _require(request, "campaigns.change_campaign")
    campaign = _campaign(campaign_id)
    try:
        message = campaign_test_send(campaign=campaign, actor=_actor(request))
    except TestSendRefused as exc:
        messages.error(request, f"Test not sent: {exc}")
    else:
        phone_page = sandbox_phone_url(phone=message.contact.phone, bsuid=message.contact.bsuid)
        if phone_page:
            messages.success(request, format_html(
                'Test sent to your number ({}). This stack talks to the WhatsApp sandbox: <a href="{}" target="_blank" '
                'rel="noopener">see it on the sandbox phone</a>, where its buttons and STOP can be pressed.',
                message.contact, phone_page,
            ))  # fmt: skip
        else:
            messages.success(request, f"Test sent to your number ({message.contact}). Check WhatsApp on your phone.")
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_build", args=[campaign.pk]))


# --- the approver's review -------------------------------------------------------------------------


def review_view(request: HttpRequest, model_admin: ModelAdmin, campaign_id: int) -> HttpResponse:
    _require(request, "campaigns.view_campaign")
    campaign = _campaign(campaign_id)
    dry_run = None
    if campaign.template and campaign.has_audience and campaign.status in (Campaign.Status.DRAFT, Campaign.Status.PENDING_APPROVAL):
        dry_run = selectors.campaign_dry_run(campaign)
    samples = []
    if dry_run is not None:
        people = Contact.objects.in_bulk([sample["contact"] for sample in dry_run.samples])
        samples = [{"contact": people.get(sample["contact"]), "body": sample["body"]} for sample in dry_run.samples]
    contact = samples[0]["contact"] if samples else None
    preview = message_preview(template=campaign.template, parameters=campaign.parameters, contact=contact, tracked_url=campaign.tracked_url) if campaign.template else None
    may_approve = campaign.status == Campaign.Status.PENDING_APPROVAL and services.user_may_approve(request.user, campaign)
    return _page(
        request, model_admin, "campaigns/review.html", f"Review: {campaign.name}",
        crumb="Review", campaign=campaign, dry_run=dry_run, samples=samples, preview=preview and preview.as_dict(),
        sending_number=number_get(campaign.phone_number_id),
        exclusions=[(analytics.REASON_LABELS.get(reason, reason), dry_run.exclusions[reason]) for reason in EXCLUSION_REASONS] if dry_run else [],
        may_approve=may_approve, own_campaign=request.user.pk == campaign.created_by_id,
        changed_campaign=services.user_changed_campaign(request.user, campaign),
        is_approver=request.user.has_perm("campaigns.approve_campaign"), pages=campaign_pages(campaign, request.user),
        approve_url=reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "approve"]),
        reject_url=reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "reject"]),
        submit_url=reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, "submit"]),
        can_change=request.user.has_perm("campaigns.change_campaign"),
        policy=FrequencyCapPolicy.current(), variants=variant_descriptions(campaign),
    )  # fmt: skip


# --- progress and results --------------------------------------------------------------------------


def _actions(model_admin: CampaignAdmin, request: HttpRequest, campaign: Campaign) -> list[str]:
    return [a for a in model_admin.allowed_actions(request, campaign) if a in ("pause", "resume", "cancel")]


def _results(campaign: Campaign) -> dict[str, Any]:
    """The funnel and chart of the live page: rendered with it, and again by the progress poll."""
    funnel = analytics.campaign_funnel(campaign)
    series = analytics.campaign_time_series(campaign)
    report = selectors.campaign_report(campaign)
    held_back_text = ""
    if report["held_back"]["count"]:
        retry_on = timezone.localtime(parse_datetime(report["held_back"]["retry_on"]))
        held_back_text = analytics.HELD_BACK_LABEL.format(date=f"{retry_on:%d %b %Y %H:%M}")
    label_format = {"minute": "%H:%M", "hour": "%d %b %H:00", "day": "%d %b"}[series.unit]
    chart = line_chart(
        title=f"Sent and read per {series.unit}",
        labels=[timezone.localtime(moment).strftime(label_format) for moment in series.buckets],
        series=series.series, css=SERIES_CSS,
    ) if series.buckets else None  # fmt: skip
    return {
        "funnel": funnel, "chart": chart, "report": report, "held_back_text": held_back_text,
        "skipped": [(analytics.REASON_LABELS.get(reason, reason or "other"), n) for reason, n in funnel.skipped.items()],
    }  # fmt: skip


def live_view(request: HttpRequest, model_admin: CampaignAdmin, campaign_id: int) -> HttpResponse:
    _require(request, "campaigns.view_campaign")
    campaign = _campaign(campaign_id)
    progress = analytics.campaign_progress(campaign)
    return _page(
        request, model_admin, "campaigns/live.html", campaign.name,
        crumb="Progress and results", campaign=campaign, progress=progress, actions=_actions(model_admin, request, campaign),
        **_results(campaign), **selectors.campaign_cost(campaign),
        control_buttons=[
            {"name": name, "label": label, "style": style, "url": reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, name])}
            for name, label, style in (("pause", "Pause", "rt-plain"), ("resume", "Resume", "rt-primary"), ("cancel", "Cancel for good", "rt-danger"))
            if request.user.has_perm("campaigns.change_campaign")
        ],
        progress_url=reverse("admin:campaigns_campaign_progress", args=[campaign.pk]),
        export_url=reverse("admin:campaigns_campaign_export", args=[campaign.pk]) if request.user.has_perm("consent.view_contact") else "",
        pages=campaign_pages(campaign, request.user), attribution_hours=int(analytics.ATTRIBUTION_WINDOW.total_seconds() // 3600),
        earnings=campaign_earnings(campaign),
        follow_ups=campaign.follow_ups.order_by("pk"), follow_up_conditions=FollowUpCondition.choices,
        follow_up_max_days=services.FOLLOW_UP_MAX_DELAY_DAYS,
        may_create_follow_up=request.user.has_perm("campaigns.add_campaign") and campaign.launched_at is not None,
        follow_up_url=reverse("admin:campaigns_campaign_follow_up", args=[campaign.pk]),
    )  # fmt: skip


@require_POST
def follow_up_create_view(request: HttpRequest, model_admin: ModelAdmin, campaign_id: int) -> HttpResponse:
    """"Create follow-up" on a campaign's results page: a draft follow-up, opened in the builder."""
    _require(request, "campaigns.add_campaign")
    parent = _campaign(campaign_id)
    delay = request.POST.get("delay_days", "").strip()
    try:
        if not delay.isdigit():
            raise services.CampaignError("Give the delay as a whole number of days.", field="follow_up_delay_days")
        follow_up = services.follow_up_create(
            parent=parent, actor=_actor(request), condition=request.POST.get("condition", ""), delay_days=int(delay),
            name=request.POST.get("name", ""),
        )  # fmt: skip
    except services.CampaignError as exc:
        messages.error(request, f"Follow-up not created: {exc}")
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_live", args=[parent.pk]))
    messages.success(request, f"{follow_up}: a draft follow-up. Check its message and submit it for approval.")
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_build", args=[follow_up.pk]))


def progress_json_view(request: HttpRequest, model_admin: CampaignAdmin, campaign_id: int) -> JsonResponse:
    """Polled every 2 seconds by the live page: a single grouped count over the campaign's index.

    With ``?full=1`` (every few polls, and at the end) also the funnel and the chart, rendered as on
    the page, so bar, funnel and chart change together.
    """
    _require(request, "campaigns.view_campaign")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    data = {**analytics.campaign_progress(campaign).as_dict(), "actions": _actions(model_admin, request, campaign)}
    if request.GET.get("full"):
        results = _results(campaign)
        data["funnel_html"] = render_to_string("campaigns/_funnel.html", results, request=request)
        data["chart_html"] = render_to_string("campaigns/_chart_or_empty.html", results, request=request)
    return JsonResponse(data)


def export_view(request: HttpRequest, model_admin: ModelAdmin, campaign_id: int) -> StreamingHttpResponse:
    """Every recipient's outcome as CSV, streamed in chunks (a 100,000-row campaign never sits in memory)."""
    _require(request, "campaigns.view_campaign", "consent.view_contact")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    audit_record(actor=_actor(request), action="campaign.export", object_type="campaign", object_id=campaign.pk)
    response = StreamingHttpResponse(
        csv_stream(analytics.EXPORT_COLUMNS, analytics.campaign_export_rows(campaign)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-recipients.csv"'
    return response


# --- dashboard and guide ---------------------------------------------------------------------------


def dashboard_view(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    _require(request, "campaigns.view_campaign")
    figures = analytics.dashboard()
    opted_in = line_chart(
        title="Opted-in contacts at the end of each day", labels=[d.strftime("%d %b") for d in figures.opted_in_days],
        series={"opted in": figures.opted_in_series}, css=SERIES_CSS,
    )  # fmt: skip
    statuses = stacked_bar_chart(
        title="Campaign messages by outcome, by the day their campaign started",
        labels=[d.strftime("%d %b") for d in figures.status_days], series=figures.status_series, css=SERIES_CSS,
    )  # fmt: skip
    top_rate = max([row.rate for row in figures.campaign_opt_outs] or [0]) or 1
    rates = [{"row": row, "bar": round(100 * row.rate / top_rate, 1)} for row in figures.campaign_opt_outs]
    return _page(
        request, model_admin, "campaigns/dashboard.html", "Dashboard",
        account_problems=account_problems_open(), messaging_limit=messaging_limit_current(),
        may_clear_problems=request.user.has_perm("campaigns.change_campaign"),
        figures=figures, opted_in_chart=opted_in, status_chart=statuses, rates=rates,
        opt_ins_total=sum(figures.opt_ins_per_day), opt_outs_total=sum(figures.opt_outs_per_day),
        attribution_hours=int(analytics.ATTRIBUTION_WINDOW.total_seconds() // 3600),
    )  # fmt: skip


def schedule_view(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """The schedule: campaigns to come and under way, by the day they start, with their local-time windows."""
    _require(request, "campaigns.view_campaign")
    days: dict[str, list[selectors.ScheduleEntry]] = {}
    for entry in selectors.campaign_schedule():
        day = f"{timezone.localtime(entry.starts_at):%A %d %B %Y}" if entry.starts_at else "Starts as soon as it is approved"
        days.setdefault(day, []).append(entry)
    return _page(
        request, model_admin, "campaigns/schedule.html", "Schedule of campaigns",
        days=list(days.items()), policy=FrequencyCapPolicy.current(), time_zone=settings.TIME_ZONE,
    )  # fmt: skip


@require_POST
def account_problem_clear_view(request: HttpRequest, model_admin: ModelAdmin, problem_id: int) -> HttpResponse:
    """A person says an account problem is fixed at Meta; the paused campaigns can then be resumed."""
    _require(request, "campaigns.change_campaign")
    try:
        account_problem_clear(problem_id=problem_id, actor=_actor(request))
    except AccountProblemError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Account problem cleared. Resume the paused campaigns when you are ready.")
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_dashboard"))


def guide_view(request: HttpRequest) -> HttpResponse:
    """The built-in guide: how consent, caps, quiet hours, approval and opt-outs work here, with this
    installation's own values."""
    from django.contrib import admin

    return TemplateResponse(
        request,
        "campaigns/guide.html",
        {
            **admin.site.each_context(request),
            "title": "How Retarget works: a guide for marketers and support",
            "policy": FrequencyCapPolicy.current(),
            "optout_keywords": [*OPTOUT_KEYWORDS, *settings.WHATSAPP_OPTOUT_KEYWORDS],
            "optin_keywords": OPTIN_KEYWORDS,
            "help_keywords": HELP_KEYWORDS,
            "send_rate": settings.CAMPAIGN_SEND_RATE,
            "messaging_limit": settings.WHATSAPP_MESSAGING_LIMIT,
            "confirmation_days": settings.WHATSAPP_OPTIN_CONFIRMATION_DAYS,
            "attribution_hours": int(analytics.ATTRIBUTION_WINDOW.total_seconds() // 3600),
            "retention": {
                "messages": settings.MESSAGE_DETAIL_RETENTION_DAYS,
                "inbound": settings.INBOUND_TEXT_RETENTION_DAYS,
                "events": settings.EVENT_RETENTION_DAYS,
            },
            "reasons": analytics.REASON_LABELS,
        },
    )
