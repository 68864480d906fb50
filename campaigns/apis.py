"""REST endpoints of the campaigns side: parse, call a service or selector, format. No logic here."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import selectors, services
from campaigns.attribution import campaign_earnings
from campaigns.models import Campaign, FollowUpCondition, Segment
from campaigns.segments import (
    SegmentQueryTimeout,
    SegmentRuleError,
    segment_contacts,
    segment_query_time_limit,
    segment_rules_validate,
)
from consent.models import Contact
from core.audit import Actor
from core.client_ip import client_ip
from core.permissions import HasRequiredPermissions
from whatsapp.models import MessageTemplate

RULES_HELP = (
    'A rule tree: {"all": [...]}, {"any": [...]}, {"not": {...}} around conditions: '
    '{"attribute": "city", "op": "eq", "value": "Berlin"} (ops eq, ne, in, contains, gt, gte, lt, lte, exists), '
    '{"tag": "vip"}, {"country": "DE"}, {"language": "de"}, {"consent_age_days": {"lte": 365}}, '
    '{"last_inbound_within_days": 3}, '
    '{"event": "product_viewed", "where": {"sku": "X"}, "within_days": 7, "min_count": 1}, '
    '{"campaign": 12, "outcome": "read"} (sent, delivered, read, clicked, not_read, not_clicked, not_replied).'
)
PARAMETERS_HELP = (
    "One entry per template body parameter, in order: "
    '{"field": "name", "fallback": "there"}, {"attribute": "first_name"}, '
    '{"event": "product_viewed", "property": "sku"} or {"value": "20%"}. '
    "A template with a media or text-variable header, a coupon code, a limited-time offer or carousel cards "
    'takes an object: {"header": {"image": {"link": "https://..."}}, "body": [...], "coupon_code": {...}, '
    '"limited_time_offer": {"expires_at": "2026-12-24T23:00:00Z"}, "cards": [{"header": ..., "body": [...]}]}.'
)

VARIANTS_HELP = (
    "A/B test: 2 to 4 variants, labelled A-D in order, with shares (percent of the messaged part) adding up to 100. "
    'A variant may send another template and parameters: [{"share": 50}, '
    '{"share": 50, "template": "spring_sale_b", "language": "en_US", "parameters": [...]}]. Empty: no test.'
)


def _actor(request: Request) -> Actor:
    return Actor(user=request.user, label=f"api: {request.user.get_username()}", ip_address=client_ip(request))


def _error(exc: Exception, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    body: dict[str, Any] = {"detail": str(exc)}
    field = getattr(exc, "field", None)
    if field:
        body["field"] = field
    if isinstance(exc, SegmentRuleError):
        body.update(field="rules", path=exc.path)
    limit = getattr(exc, "limit", "")
    if limit:
        body["limit"] = limit
    return Response(body, status=code)


class _Protected(APIView):
    permission_classes = [HasRequiredPermissions]


# --- events -------------------------------------------------------------------------------------


class EventBatchInputSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.JSONField(), max_length=services.MAX_EVENTS_PER_BATCH)


class EventBatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    contacts_created = serializers.IntegerField()
    rejected = inline_serializer("EventRejection", {"index": serializers.IntegerField(), "reason": serializers.CharField()}, many=True)


class EventBatchApi(_Protected):
    required_permissions = {"POST": ("campaigns.add_event",)}

    @extend_schema(
        operation_id="events_record",
        summary="Record behaviour events (up to 1,000 per request)",
        description="Each item is {phone, name, properties, occurred_at}. Items are accepted or rejected one by one; "
        "rejected ones are listed with their index and reason. A phone without a contact creates the contact, "
        "without any consent. The body may also be the bare list.",
        request=EventBatchInputSerializer,
        responses={200: EventBatchOutputSerializer},
        examples=[
            OpenApiExample(
                "Two events",
                value={"events": [
                    {"phone": "+4915123456789", "name": "product_viewed", "properties": {"sku": "TR-42"}, "occurred_at": "2026-11-25T14:03:00Z"},
                    {"phone": "+4915123456789", "name": "purchase", "properties": {"sku": "TR-42", "amount": 89.9}, "occurred_at": "2026-11-25T14:09:00Z"},
                ]},  # fmt: skip
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        payload = {"events": request.data} if isinstance(request.data, list) else request.data
        serializer = EventBatchInputSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        result = services.events_ingest(items=serializer.validated_data["events"])
        return Response(
            {
                "accepted": result.accepted,
                "contacts_created": result.contacts_created,
                "rejected": [{"index": r.index, "reason": r.reason} for r in result.rejected],
            }
        )


# --- segments -----------------------------------------------------------------------------------


class SegmentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "created_at", "updated_at"]


class SegmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    rules = serializers.JSONField(help_text=RULES_HELP)


class SampleContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "phone", "country", "language"]


class SegmentCountOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = SampleContactSerializer(many=True)


class SegmentListCreateApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_segment",), "POST": ("campaigns.add_segment",)}

    @extend_schema(operation_id="segment_list", summary="List segments", responses={200: SegmentOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(SegmentOutputSerializer(Segment.objects.all(), many=True).data)

    @extend_schema(
        operation_id="segment_create",
        summary="Save a segment",
        description="Invalid rules give 400 with `path` naming the bad part of the tree.",
        request=SegmentInputSerializer,
        responses={201: SegmentOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = SegmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            segment = services.segment_create(actor=_actor(request), **serializer.validated_data)
        except (services.CampaignError, SegmentRuleError) as exc:
            return _error(exc)
        return Response(SegmentOutputSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailApi(_Protected):
    required_permissions = {
        "GET": ("campaigns.view_segment",),
        "PATCH": ("campaigns.change_segment",),
        "PUT": ("campaigns.change_segment",),
        "DELETE": ("campaigns.delete_segment",),
    }

    @extend_schema(operation_id="segment_get", summary="A segment", responses={200: SegmentOutputSerializer})
    def get(self, request: Request, segment_id: int) -> Response:
        return Response(SegmentOutputSerializer(get_object_or_404(Segment, pk=segment_id)).data)

    @extend_schema(
        operation_id="segment_update",
        summary="Change a segment",
        description="Campaigns on this segment awaiting approval, approved or scheduled go back to draft.",
        request=SegmentInputSerializer(partial=True),
        responses={200: SegmentOutputSerializer},
    )
    def patch(self, request: Request, segment_id: int) -> Response:
        return self._update(request, segment_id, partial=True)

    @extend_schema(operation_id="segment_replace", summary="Replace a segment", request=SegmentInputSerializer, responses={200: SegmentOutputSerializer})
    def put(self, request: Request, segment_id: int) -> Response:
        return self._update(request, segment_id, partial=False)

    def _update(self, request: Request, segment_id: int, *, partial: bool) -> Response:
        segment = get_object_or_404(Segment, pk=segment_id)
        serializer = SegmentInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            segment = services.segment_update(segment=segment, actor=_actor(request), **serializer.validated_data)
        except (services.CampaignError, SegmentRuleError) as exc:
            return _error(exc)
        return Response(SegmentOutputSerializer(segment).data)

    @extend_schema(operation_id="segment_delete", summary="Delete an unused segment", responses={204: None})
    def delete(self, request: Request, segment_id: int) -> Response:
        try:
            services.segment_delete(segment=get_object_or_404(Segment, pk=segment_id), actor=_actor(request))
        except services.CampaignError as exc:
            return _error(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentCountApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_segment",)}

    @extend_schema(
        operation_id="segment_count",
        summary="How many contacts match a segment now, with a few of them",
        description="503 when counting takes longer than SEGMENT_QUERY_TIMEOUT_SECONDS.",
        responses={200: SegmentCountOutputSerializer},
    )
    def get(self, request: Request, segment_id: int) -> Response:
        segment = get_object_or_404(Segment, pk=segment_id)
        try:
            with segment_query_time_limit():
                count, sample = selectors.segment_count(segment), selectors.segment_sample(segment)
        except SegmentQueryTimeout as exc:
            return _error(exc, status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"count": count, "sample": SampleContactSerializer(sample, many=True).data})


class SegmentPreviewInputSerializer(serializers.Serializer):
    rules = serializers.JSONField(help_text=RULES_HELP)


class SegmentPreviewApi(_Protected):
    """Count unsaved rules (the admin's live count uses it)."""

    required_permissions = {"POST": ("campaigns.view_segment",)}

    @extend_schema(
        operation_id="segment_preview",
        summary="Count and sample for rules not saved yet",
        description="Rules over the size limits give 400 naming the `limit` and the `path`; "
        "counting that takes longer than SEGMENT_QUERY_TIMEOUT_SECONDS gives 503.",
        request=SegmentPreviewInputSerializer,
        responses={200: SegmentCountOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = SegmentPreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = serializer.validated_data["rules"]
        try:
            segment_rules_validate(rules)
        except SegmentRuleError as exc:
            return _error(exc)
        contacts = segment_contacts(rules)
        try:
            with segment_query_time_limit():
                count, sample = contacts.count(), list(contacts.order_by("pk")[: selectors.SAMPLE_SIZE])
        except SegmentQueryTimeout as exc:
            return _error(exc, status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"count": count, "sample": SampleContactSerializer(sample, many=True).data})


# --- campaigns ----------------------------------------------------------------------------------


class CampaignOutputSerializer(serializers.ModelSerializer):
    template = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    approved_by = serializers.CharField(source="approved_by.username", default=None)
    local_time = serializers.TimeField(format="%H:%M", allow_null=True)
    follow_ups = serializers.PrimaryKeyRelatedField[Campaign](many=True, read_only=True, help_text="Ids of the follow-ups of this campaign")
    phone_number_id = serializers.SerializerMethodField(help_text="The business number it is sent from (its phone number id)")

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "status_reason", "template", "language", "segment", "parameters", "tracked_url",
            "send_at", "local_time", "expires_at", "max_per_day", "max_per_week", "phone_number_id", "created_by", "created_at",
            "submitted_at", "approved_by", "approved_at", "rejection_comment", "launched_at", "completed_at",
            "variants", "control_percent", "conversion_event", "conversion_value_property", "conversion_window_days",
            "follow_up_of", "follow_up_condition", "follow_up_delay_days", "follow_ups",
        ]  # fmt: skip

    def get_template(self, campaign: Campaign) -> str | None:
        return campaign.template.name if campaign.template else None

    def get_language(self, campaign: Campaign) -> str | None:
        return campaign.template.language if campaign.template else None

    def get_phone_number_id(self, campaign: Campaign) -> str:
        return campaign.phone_number_id or settings.WHATSAPP_PHONE_NUMBER_ID


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    template = serializers.CharField(help_text="Template name, e.g. spring_sale")
    language = serializers.CharField(help_text="Template language, e.g. en_US")
    segment = serializers.IntegerField(help_text="Segment id")
    parameters = serializers.JSONField(default=list, help_text=PARAMETERS_HELP)  # type: ignore[arg-type]  # a list or an object
    tracked_url = serializers.URLField(required=False, allow_blank=True, default="")
    send_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Empty: as soon as approved")
    local_time = serializers.TimeField(
        required=False, allow_null=True, default=None, help_text="HH:MM in each recipient's time zone, on or after send_at"
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    max_per_day = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    max_per_week = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    phone_number_id = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64,
        help_text="Which of the business's numbers sends it (its phone number id); empty: the default number",
    )  # fmt: skip
    variants = serializers.JSONField(required=False, default=list, help_text=VARIANTS_HELP)  # type: ignore[arg-type]  # a list
    control_percent = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=100, help_text="Percent of the audience held out (never messaged)"
    )
    conversion_event = serializers.CharField(required=False, max_length=100, default="purchase")
    conversion_value_property = serializers.CharField(required=False, max_length=100, allow_blank=True, default="value")
    conversion_window_days = serializers.IntegerField(required=False, default=7, help_text="Days after a read or click")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "template" in data or "language" in data:
            name = data.pop("template", None) or (self.instance.template.name if self.instance else None)
            language = data.pop("language", None) or (self.instance.template.language if self.instance else None)
            template = MessageTemplate.objects.filter(name=name, language=language).first()
            if template is None:
                raise serializers.ValidationError({"template": f"No template {name!r} in language {language!r}; sync templates first."})
            data["template"] = template
        if "segment" in data:
            segment = Segment.objects.filter(pk=data["segment"]).first()
            if segment is None:
                raise serializers.ValidationError({"segment": f"No segment with id {data['segment']}."})
            data["segment"] = segment
        return data


class CampaignListCreateApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_campaign",), "POST": ("campaigns.add_campaign",)}

    @extend_schema(operation_id="campaign_list", summary="List campaigns", responses={200: CampaignOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        campaigns = (
            Campaign.objects.select_related("template", "created_by", "approved_by").prefetch_related("follow_ups").order_by("-created_at")
        )
        return Response(CampaignOutputSerializer(campaigns, many=True).data)

    @extend_schema(
        operation_id="campaign_create",
        summary="Create a draft campaign",
        request=CampaignInputSerializer,
        responses={201: CampaignOutputSerializer},
        examples=[
            OpenApiExample(
                "Spring sale",
                value={"name": "Spring sale", "template": "spring_sale", "language": "en_US", "segment": 1,
                       "parameters": [{"field": "name", "fallback": "there"}, {"value": "20%"}]},  # fmt: skip
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = CampaignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_create(actor=_actor(request), **serializer.validated_data)
        except services.CampaignError as exc:
            return _error(exc)
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_campaign",), "PATCH": ("campaigns.change_campaign",)}

    @extend_schema(operation_id="campaign_get", summary="A campaign", responses={200: CampaignOutputSerializer})
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(CampaignOutputSerializer(get_object_or_404(Campaign, pk=campaign_id)).data)

    @extend_schema(
        operation_id="campaign_update",
        summary="Change a campaign",
        description="A change to what was submitted or approved sends the campaign back to draft.",
        request=CampaignInputSerializer(partial=True),
        responses={200: CampaignOutputSerializer},
    )
    def patch(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        serializer = CampaignInputSerializer(campaign, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        conversion = {name: changes.pop(name) for name in services.CONVERSION_FIELDS if name in changes}
        try:
            if changes:
                campaign = services.campaign_update(campaign=campaign, actor=_actor(request), **changes)
            if conversion:  # how conversions are counted may change in any state, without a new approval
                campaign = services.campaign_conversion_set(campaign=campaign, actor=_actor(request), **conversion)
        except services.CampaignError as exc:
            return _error(exc)
        return Response(CampaignOutputSerializer(campaign).data)


class FollowUpInputSerializer(CampaignInputSerializer):
    name = serializers.CharField(max_length=200, required=False, default="", help_text='Default: "Follow-up of <parent>"')
    condition = serializers.ChoiceField(choices=FollowUpCondition.choices, help_text="Whom among the parent's recipients")
    delay_days = serializers.IntegerField(
        min_value=1, max_value=services.FOLLOW_UP_MAX_DELAY_DAYS, help_text="Days after the parent's launch, at the earliest"
    )
    template = serializers.CharField(required=False, help_text="Template name; default: the parent's template, parameters and link")
    language = serializers.CharField(required=False, help_text="Template language, with template")
    segment = None  # type: ignore[assignment]  # DRF drops the field: the audience is the parent's recipients
    parameters = serializers.JSONField(required=False, help_text=PARAMETERS_HELP)  # a list or an object
    tracked_url = serializers.URLField(required=False, allow_blank=True)
    send_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Empty: as early as allowed (the parent's launch plus delay_days)"
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("template" in data) != ("language" in data):
            raise serializers.ValidationError({"template": "Give both template and language, or neither (the parent's template)."})
        return super().validate(data)


class CampaignFollowUpsApi(_Protected):
    """A campaign's follow-ups: to its recipients who did not read, click or reply within N days."""

    required_permissions = {"GET": ("campaigns.view_campaign",), "POST": ("campaigns.add_campaign",)}

    @extend_schema(operation_id="campaign_follow_up_list", summary="A campaign's follow-ups", responses={200: CampaignOutputSerializer(many=True)})
    def get(self, request: Request, campaign_id: int) -> Response:
        parent = get_object_or_404(Campaign, pk=campaign_id)
        follow_ups = parent.follow_ups.select_related("template", "created_by", "approved_by").prefetch_related("follow_ups").order_by("pk")
        return Response(CampaignOutputSerializer(follow_ups, many=True).data)

    @extend_schema(
        operation_id="campaign_follow_up_create",
        summary="Create a draft follow-up",
        description="To the parent's recipients whose message left (not skipped, failed or unresolved) and who did not "
        "read it (not_read), click its link (not_clicked) or write to us (not_replied) by the follow-up's launch, at "
        "least delay_days after the parent's. Needs its own approval; consent, caps and quiet hours are checked at send time.",
        request=FollowUpInputSerializer,
        responses={201: CampaignOutputSerializer},
        examples=[OpenApiExample("Did not read in 3 days", value={"condition": "not_read", "delay_days": 3}, request_only=True)],
    )
    def post(self, request: Request, campaign_id: int) -> Response:
        parent = get_object_or_404(Campaign, pk=campaign_id)
        serializer = FollowUpInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            follow_up = services.follow_up_create(parent=parent, actor=_actor(request), **serializer.validated_data)
        except services.CampaignError as exc:
            return _error(exc)
        return Response(CampaignOutputSerializer(follow_up).data, status=status.HTTP_201_CREATED)


class CampaignRejectInputSerializer(serializers.Serializer):
    comment = serializers.CharField(help_text="What must change")


class _CampaignActionApi(_Protected):
    """POST /campaigns/<id>/<action>: one lifecycle step through its service."""

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        raise NotImplementedError

    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        try:
            campaign = self.run(request, campaign)
        except services.CampaignForbidden as exc:
            return _error(exc, status.HTTP_403_FORBIDDEN)
        except services.CampaignError as exc:
            return _error(exc)
        return Response(CampaignOutputSerializer(campaign).data)


def _action_schema(name: str, summary: str, *, request: Any = None, description: str = "") -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=f"campaign_{name}", summary=summary, description=description, request=request,
            responses={200: CampaignOutputSerializer},
        )
    )  # fmt: skip


@_action_schema("submit", "Submit a draft for approval")
class CampaignSubmitApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.change_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        return services.campaign_submit(campaign=campaign, actor=_actor(request))


@_action_schema(
    "approve",
    "Approve (a second person with the Approver role, never the author)",
    description="Without send_at the campaign starts now; otherwise it is scheduled.",
)
class CampaignApproveApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.approve_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        return services.campaign_approve(campaign=campaign, actor=_actor(request))


@_action_schema("reject", "Send a submitted campaign back to draft with a comment", request=CampaignRejectInputSerializer)
class CampaignRejectApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.approve_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        serializer = CampaignRejectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return services.campaign_reject(campaign=campaign, actor=_actor(request), comment=serializer.validated_data["comment"])


@_action_schema("pause", "Pause sending (messages in flight finish)")
class CampaignPauseApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.change_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        return services.campaign_pause(campaign=campaign, actor=_actor(request))


@_action_schema("resume", "Resume a paused campaign")
class CampaignResumeApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.change_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        return services.campaign_resume(campaign=campaign, actor=_actor(request))


@_action_schema("cancel", "Cancel: messages not yet sent are skipped")
class CampaignCancelApi(_CampaignActionApi):
    required_permissions = {"POST": ("campaigns.change_campaign",)}

    def run(self, request: Request, campaign: Campaign) -> Campaign:
        return services.campaign_cancel(campaign=campaign, actor=_actor(request))


class CostSerializer(serializers.Serializer):
    """A cost priced with the rate card (``WHATSAPP_RATE_CARD_FILE``); amounts are decimal strings."""

    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    by_market = inline_serializer(
        "CostLine",
        {
            "market": serializers.CharField(), "category": serializers.CharField(), "messages": serializers.IntegerField(),
            "rate": serializers.DecimalField(max_digits=14, decimal_places=6, coerce_to_string=True),
            "amount": serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True),
        },
        many=True,
    )  # fmt: skip
    free = serializers.IntegerField(help_text="Messages in a free customer service or entry-point window")
    unpriced = serializers.IntegerField(help_text="Messages to countries or of categories the rate card has no rate for")


class CampaignReportSerializer(serializers.Serializer):
    status = serializers.CharField()
    status_reason = serializers.CharField()
    counts = inline_serializer(
        "CampaignCounts",
        {name: serializers.IntegerField() for name in ("queued", "sent", "delivered", "read", "failed", "skipped", "unknown")},
    )
    skipped_by_reason = serializers.DictField(child=serializers.IntegerField())
    failed_by_code = serializers.DictField(child=serializers.IntegerField())
    sent_by_pricing_category = serializers.DictField(child=serializers.IntegerField())
    cost = CostSerializer(allow_null=True, help_text="Delivered messages priced by the category and type their statuses report")
    cost_error = serializers.CharField(help_text="Why the cost is missing (a rate card that cannot be read); empty otherwise")


class CampaignReportApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_campaign",)}

    @extend_schema(
        operation_id="campaign_report",
        summary="Delivery figures",
        description="`queued` includes deferred (caps, quiet hours) and in-flight messages; `sent` is accepted or sent; "
        "`unknown` are sends interrupted by a stopped worker whose status webhook has not arrived.",
        responses={200: CampaignReportSerializer},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        return Response({**selectors.campaign_report(campaign), **selectors.campaign_cost(campaign)})


_GROUP_FIELDS: dict[str, serializers.Field] = {
    "group": serializers.CharField(help_text='"A"-"D", "control" (the hold-out), "" (no A/B test) or "messaged" (all but the hold-out)'),
    "label": serializers.CharField(),
    **{name: serializers.IntegerField() for name in ("recipients", "sent", "read", "clicked", "replied", "opted_out", "converted", "conversions")},
    "revenue": serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True),
    "conversion_rate": serializers.FloatField(allow_null=True, help_text="converted / recipients"),
    "lift": serializers.FloatField(allow_null=True, help_text="(conversion rate - the hold-out's) / the hold-out's"),
}


class CampaignResultsSerializer(serializers.Serializer):
    conversion = inline_serializer(
        "CampaignConversion",
        {"event": serializers.CharField(), "value_property": serializers.CharField(), "window_days": serializers.IntegerField()},
    )
    revenue = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)
    lift = serializers.FloatField(allow_null=True)
    messaged = inline_serializer("CampaignGroupMessaged", _GROUP_FIELDS)
    control = inline_serializer("CampaignGroupControl", _GROUP_FIELDS, allow_null=True)
    groups = inline_serializer("CampaignGroup", _GROUP_FIELDS, many=True)


class CampaignResultsApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_campaign",)}

    @extend_schema(
        operation_id="campaign_results",
        summary="What the campaign earned, per A/B variant and against the hold-out",
        description="Reads, clicks, replies, opt-outs, conversions and revenue of each variant and of the control "
        "group, and the lift of the messaged over the hold-out. A conversion is a `conversion_event` within "
        "`conversion_window_days` after the person read or clicked the message (the hold-out: after the time it would "
        "have been sent); see campaigns/attribution.py for every definition.",
        responses={200: CampaignResultsSerializer},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        return Response(campaign_earnings(get_object_or_404(Campaign, pk=campaign_id)).as_dict())


class CampaignDryRunSerializer(serializers.Serializer):
    audience = serializers.IntegerField()
    eligible = serializers.IntegerField()
    exclusions = serializers.DictField(child=serializers.IntegerField())
    held_out = serializers.IntegerField(help_text="People who would be messaged but are in the hold-out (control group): never sent, not in `eligible`, the deferrals or the cost")
    samples = inline_serializer("DryRunSample", {"contact": serializers.IntegerField(), "body": serializers.CharField()}, many=True)
    estimated_duration_seconds = serializers.FloatField()
    send_rate_per_second = serializers.FloatField()
    messaging_limit = serializers.IntegerField()
    messaging_headroom = serializers.IntegerField(allow_null=True, help_text="People the messaging limit still allows today; null: no limit")
    estimated_cost = CostSerializer(
        allow_null=True, help_text="The eligible and deferred recipients by country x the template's category x the rate card; null if the card cannot be read"
    )
    warnings = serializers.ListField(child=serializers.CharField())


class CampaignDryRunApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_campaign",)}

    @extend_schema(
        operation_id="campaign_dry_run",
        summary="What sending now would do",
        description="Audience size, exclusions by reason (no_consent, opted_out, suppressed, frequency_cap, "
        "quiet_hours_deferral, invalid_number, missing_parameter; the last-but-two and -three are deferrals), "
        "rendered samples, the estimated duration at the configured rate, the messaging limit's headroom today and "
        "the estimated cost (if every message is delivered).",
        responses={200: CampaignDryRunSerializer},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign.objects.select_related("template", "segment"), pk=campaign_id)
        if campaign.template is None or not campaign.has_audience:
            return Response({"detail": "The campaign needs a template and a segment first."}, status=status.HTTP_400_BAD_REQUEST)
        return Response(selectors.campaign_dry_run(campaign).as_dict())


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)
    campaign_name = serializers.CharField(source="campaign.name", default=None)
    status = serializers.CharField()
    skip_reason = serializers.CharField()
    error_code = serializers.IntegerField(allow_null=True)
    error_title = serializers.CharField()
    decision = serializers.JSONField(help_text="The checks behind the send or skip, and the consent event relied on")
    created_at = serializers.DateTimeField()
    dispatched_at = serializers.DateTimeField(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)


class ContactMessagesApi(_Protected):
    required_permissions = {"GET": ("campaigns.view_message",)}

    @extend_schema(operation_id="contact_message_list", summary="A person's messages with the decision behind each", responses={200: MessageOutputSerializer(many=True)})
    def get(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(Contact, pk=contact_id)
        return Response(MessageOutputSerializer(selectors.contact_messages(contact)[:500], many=True).data)
