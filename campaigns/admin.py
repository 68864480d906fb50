"""Admin of the campaigns domain: every change goes through campaigns.services.

Campaigns carry their lifecycle as buttons on the change page (submit, approve, reject, pause,
resume, cancel), the dry run and the delivery figures. Segments show their audience now. Messages
and events are read-only, listed without a full count (the tables are large).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from campaigns import admin_pages, segment_pages, selectors, services
from campaigns.models import Campaign, Event, FrequencyCapPolicy, Message, Segment, StaffTestNumber
from campaigns.segments import SegmentRuleError, segment_rules_validate
from core.admin import ReadOnlyAdmin
from core.audit import Actor
from core.client_ip import client_ip
from core.logging import mask_phone
from core.redirects import safe_next
from whatsapp.numbers import number_choices

admin.site.site_header = "Retarget"
admin.site.site_title = "Retarget"


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, label=f"admin: {request.user.get_username()}", ip_address=client_ip(request))


def _pretty_json(value: Any) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def _page_of(model_admin: admin.ModelAdmin) -> Any:
    """Wrap a page function ``view(request, model_admin, **kwargs)`` as an admin view of ``model_admin``."""

    def page(view: Any) -> Any:
        return model_admin.admin_site.admin_view(lambda request, **kwargs: view(request, model_admin, **kwargs))

    return page


# --- segments -----------------------------------------------------------------------------------


class SegmentForm(forms.ModelForm):
    # The visual builder (segment_builder.js) writes this field; its "Edit as JSON" switch shows it.
    rules = forms.JSONField(
        initial={"all": []},
        help_text=Segment._meta.get_field("rules").help_text + " See the README (Segment rules) for every condition.",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "class": "rt-rules-json", "spellcheck": "false"}),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean_rules(self) -> Any:
        rules = self.cleaned_data["rules"]
        try:
            segment_rules_validate(rules)
        except SegmentRuleError as exc:
            raise forms.ValidationError(str(exc)) from None
        return rules


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "description", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("audience_now",)
    change_form_template = "admin/campaigns/segment/change_form.html"

    @admin.display(description="Audience now")
    def audience_now(self, segment: Segment) -> str:
        if segment.pk is None:
            return "Save to see the count here; the live count below follows the rules as you build them."
        sample = selectors.segment_sample(segment)
        return format_html(
            "<strong>{}</strong> contacts match. Sample: {}",
            selectors.segment_count(segment),
            format_html_join(", ", "{} (#{})", ((c.name or mask_phone(c.phone or ""), c.pk) for c in sample)) or "none",
        )

    def get_urls(self) -> list:
        page = _page_of(self)
        return [
            path("builder/vocabulary/", page(segment_pages.vocabulary_view), name="campaigns_segment_vocabulary"),
            path("builder/preview/", page(segment_pages.preview_view), name="campaigns_segment_preview"),
            *super().get_urls(),
        ]

    def save_model(self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in ("name", "description", "rules")}
        if change:
            services.segment_update(segment=obj, actor=_actor(request), **data)
        else:
            obj.pk = services.segment_create(actor=_actor(request), **data).pk

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.segment_delete(segment=obj, actor=_actor(request))


# --- campaigns ----------------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    parameters = forms.JSONField(
        required=False,
        help_text=Campaign._meta.get_field("parameters").help_text,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 90, "style": "font-family: monospace"}),
    )

    phone_number_id = forms.ChoiceField(required=False, label="WhatsApp number", help_text=Campaign._meta.get_field("phone_number_id").help_text)

    class Meta:
        model = Campaign
        fields = list(services.EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        number_field = self.fields["phone_number_id"]
        assert isinstance(number_field, forms.ChoiceField)
        number_field.choices = number_choices()

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        if "parameters" in cleaned and cleaned["parameters"] is None:
            cleaned["parameters"] = []
        candidate = copy.copy(self.instance)
        for name in services.EDITABLE_FIELDS:
            if name in cleaned:
                setattr(candidate, name, cleaned[name])
        try:
            services.campaign_validate(candidate)
        except services.CampaignError as exc:
            if exc.field in self.fields:
                self.add_error(exc.field, str(exc))
            else:
                raise forms.ValidationError(str(exc)) from None
        return cleaned


ACTIONS = ("submit", "approve", "reject", "pause", "resume", "cancel", "clone")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "status", "template", "segment", "send_at", "created_by", "approved_by", "figures", "page_links")
    list_filter = ("status",)
    list_select_related = ("template", "segment", "created_by", "approved_by")
    actions = ("clone_selected",)
    search_fields = ("name",)
    change_form_template = "admin/campaigns/campaign/change_form.html"
    change_list_template = "admin/campaigns/campaign/change_list.html"
    readonly_fields = (
        "status", "status_reason", "created_by", "submitted_at", "approved_by", "approved_at", "rejection_comment",
        "launched_at", "completed_at", "report", "dry_run",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("name", "status", "status_reason")}),
        ("Message", {"fields": ("template", "parameters", "tracked_url", "phone_number_id")}),
        ("Audience and schedule", {"fields": ("segment", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week")}),
        ("Approval", {"fields": ("created_by", "submitted_at", "approved_by", "approved_at", "rejection_comment")}),
        ("Sending", {"fields": ("launched_at", "completed_at", "report", "dry_run")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> tuple[str, ...]:
        if obj is not None and obj.status in (Campaign.Status.SENDING, Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
            return tuple(self.readonly_fields) + services.EDITABLE_FIELDS  # pause a sending campaign to change it
        return self.readonly_fields

    @admin.display(description="Figures")
    def figures(self, campaign: Campaign) -> str:
        counts = selectors.campaign_report(campaign)["counts"]
        return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "-"

    @admin.display(description="Pages")
    def page_links(self, campaign: Campaign) -> str:
        return format_html(
            '<a href="{}">Review</a> · <a href="{}">Progress and results</a>',
            reverse("admin:campaigns_campaign_review", args=[campaign.pk]),
            reverse("admin:campaigns_campaign_live", args=[campaign.pk]),
        )

    @admin.display(description="Delivery report")
    def report(self, campaign: Campaign) -> str:
        return _pretty_json(selectors.campaign_report(campaign)) if campaign.pk else "-"

    @admin.display(description="Dry run (what sending now would do)")
    def dry_run(self, campaign: Campaign) -> str:
        if campaign.pk is None or campaign.template is None or not campaign.has_audience:
            return "-"
        result = selectors.campaign_dry_run(campaign)
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", sorted(result.exclusions.items()))
        samples = format_html_join("", "<li>{}</li>", ((sample["body"],) for sample in result.samples))
        warnings = format_html_join("", "<li style='color: #ba2121'>{}</li>", ((w,) for w in result.warnings))
        cost = result.estimated_cost
        return format_html(
            "<p>Audience <strong>{}</strong>, eligible now <strong>{}</strong>, held out <strong>{}</strong>, about {} s at {}/s; estimated cost <strong>{}</strong>.</p>"
            "<table><tr><th>Excluded or deferred</th><th>Contacts</th></tr>{}</table>"
            "<p>Samples:</p><ul>{}</ul><ul>{}</ul>",
            result.audience, result.eligible, result.held_out, round(result.estimated_duration_seconds), result.send_rate_per_second,
            f"{cost['currency']} {cost['total']}" if cost else "?", rows, samples, warnings,
        )  # fmt: skip

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        data: dict[str, Any] = {name: form.cleaned_data.get(name) for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            if changed:
                updated = services.campaign_update(campaign=obj, actor=_actor(request), **changed)
                if updated.status == Campaign.Status.DRAFT and updated.status_reason:
                    messages.warning(request, updated.status_reason)
        else:
            obj.pk = services.campaign_create(actor=_actor(request), **data).pk

    # --- lifecycle buttons ---

    def get_urls(self) -> list:
        page = _page_of(self)
        return [
            path(
                "<int:campaign_id>/lifecycle/<str:action>/",
                self.admin_site.admin_view(self.lifecycle_view),
                name="campaigns_campaign_lifecycle",
            ),
            path("build/", page(admin_pages.builder_view), name="campaigns_campaign_build_new"),
            path("build/preview/", page(admin_pages.preview_json_view), name="campaigns_campaign_preview"),
            path("dashboard/", page(admin_pages.dashboard_view), name="campaigns_campaign_dashboard"),
            path("schedule/", page(admin_pages.schedule_view), name="campaigns_campaign_schedule"),
            path(
                "account-problems/<int:problem_id>/clear/", page(admin_pages.account_problem_clear_view),
                name="campaigns_account_problem_clear",
            ),  # fmt: skip
            path("<int:campaign_id>/build/", page(admin_pages.builder_view), name="campaigns_campaign_build"),
            path("<int:campaign_id>/test-send/", page(admin_pages.test_send_view), name="campaigns_campaign_test_send"),
            path("<int:campaign_id>/review/", page(admin_pages.review_view), name="campaigns_campaign_review"),
            path("<int:campaign_id>/live/", page(admin_pages.live_view), name="campaigns_campaign_live"),
            path("<int:campaign_id>/follow-up/", page(admin_pages.follow_up_create_view), name="campaigns_campaign_follow_up"),
            path("<int:campaign_id>/progress/", page(admin_pages.progress_json_view), name="campaigns_campaign_progress"),
            path("<int:campaign_id>/export.csv", page(admin_pages.export_view), name="campaigns_campaign_export"),
            *super().get_urls(),
        ]

    def allowed_actions(self, request: HttpRequest, campaign: Campaign) -> list[str]:
        user = request.user
        can_change = user.has_perm("campaigns.change_campaign")
        status = campaign.status
        allowed = []
        if can_change and status == Campaign.Status.DRAFT:
            allowed.append("submit")
        if status == Campaign.Status.PENDING_APPROVAL and services.user_may_approve(user, campaign):
            allowed += ["approve", "reject"]
        if can_change and status in (Campaign.Status.SENDING, Campaign.Status.SCHEDULED):
            allowed.append("pause")
        if can_change and status == Campaign.Status.PAUSED:
            allowed.append("resume")
        if can_change and status not in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
            allowed.append("cancel")
        if user.has_perm("campaigns.add_campaign"):
            allowed.append("clone")
        return allowed

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """One way to create a campaign: the builder (the generic form took the mapping as raw JSON)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_build_new"))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        campaign = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if campaign is not None:
            extra_context["campaign_pages"] = admin_pages.campaign_pages(campaign, request.user)
            extra_context["lifecycle_actions"] = [
                (action, reverse("admin:campaigns_campaign_lifecycle", args=[campaign.pk, action]))
                for action in self.allowed_actions(request, campaign)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def _clone(self, request: HttpRequest, campaign: Campaign) -> HttpResponse:
        if not request.user.has_perm("campaigns.add_campaign"):
            raise PermissionDenied
        try:
            clone = services.campaign_clone(campaign=campaign, actor=_actor(request))
        except services.CampaignError as exc:
            messages.error(request, f"{campaign} cannot be cloned: {exc}")
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        messages.success(request, f"{clone}: a new draft with the settings of {campaign}. Change what you need and submit it.")
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_build", args=[clone.pk]))

    @admin.action(description="Clone the selected campaigns as new drafts", permissions=["add"])
    def clone_selected(self, request: HttpRequest, queryset: Any) -> None:
        cloned, failed = [], []
        for campaign in queryset.order_by("pk"):
            try:
                cloned.append(str(services.campaign_clone(campaign=campaign, actor=_actor(request))))
            except services.CampaignError as exc:
                failed.append(f"{campaign}: {exc}")
        if cloned:
            messages.success(request, f"New drafts: {', '.join(cloned)}.")
        for problem in failed:
            messages.error(request, f"Not cloned: {problem}")

    def lifecycle_view(self, request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if request.method != "POST" or action not in ACTIONS:
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
        if action == "clone":
            return self._clone(request, campaign)
        if not (request.user.has_perm("campaigns.change_campaign") or request.user.has_perm("campaigns.approve_campaign")):
            raise PermissionDenied
        actor = _actor(request)
        run = {
            "submit": lambda: services.campaign_submit(campaign=campaign, actor=actor),
            "approve": lambda: services.campaign_approve(campaign=campaign, actor=actor),
            "reject": lambda: services.campaign_reject(campaign=campaign, actor=actor, comment=request.POST.get("comment", "")),
            "pause": lambda: services.campaign_pause(campaign=campaign, actor=actor),
            "resume": lambda: services.campaign_resume(campaign=campaign, actor=actor),
            "cancel": lambda: services.campaign_cancel(campaign=campaign, actor=actor),
        }[action]
        if action in ("submit", "pause", "resume", "cancel") and not request.user.has_perm("campaigns.change_campaign"):
            raise PermissionDenied
        try:
            campaign = run()
        except (services.CampaignError, services.CampaignForbidden) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{campaign}: {campaign.get_status_display().lower()}.")
        # The campaign pages post here too and come back to themselves.
        return HttpResponseRedirect(safe_next(request, reverse("admin:campaigns_campaign_change", args=[campaign.pk])))


# --- policy, messages, events -------------------------------------------------------------------


@admin.register(FrequencyCapPolicy)
class FrequencyCapPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not FrequencyCapPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        policy = FrequencyCapPolicy.current()  # the one row; go straight to it
        return HttpResponseRedirect(reverse("admin:campaigns_frequencycappolicy_change", args=[policy.pk]))


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "contact", "kind", "status", "skip_reason", "error_code", "created_at")
    list_filter = ("status", "kind")
    list_select_related = ("campaign", "contact")
    search_fields = ("=id", "=wamid")
    readonly_fields = ("decision_record",)
    exclude = ("decision",)
    raw_id_fields = ("campaign", "contact")

    @admin.display(description="Decision (why sent or skipped)")
    def decision_record(self, message: Message) -> str:
        return _pretty_json(message.decision)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("name", "contact", "occurred_at", "received_at")
    list_filter = ("name",)
    list_select_related = ("contact",)
    raw_id_fields = ("contact",)


@admin.register(StaffTestNumber)
class StaffTestNumberAdmin(admin.ModelAdmin):
    """Administrators link a staff member to their own contact; "send a test" goes there."""

    list_display = ("user", "contact")
    list_select_related = ("user", "contact")
    raw_id_fields = ("contact",)
