"""REST API v1 for contacts and consents. Each API parses input, calls a service or selector, formats output."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.models import ConsentAction, ConsentSource, ConsentStatus, Contact, Purpose, validate_time_zone
from consent.phones import InvalidPhoneNumber, phone_normalize, phone_to_wa_id, phone_wa_id_matches
from consent.rights import RightsRefused, contact_erase, contact_export, contact_rectify, contact_upsert_recorded
from consent.selectors import contact_consent_events, contact_list
from consent.services import ConsentRefused, Evidence, consent_record_by_phone
from core.audit import Actor
from core.client_ip import client_ip
from core.permissions import HasRequiredPermissions
from core.staff_access import api_token_revoke

# Sources an integrator may report. Erasure is recorded by the erasure service only.
API_SOURCES = [(value, label) for value, label in ConsentSource.choices if value != ConsentSource.ERASURE]
# Service field names that the API spells differently.
_API_FIELD_NAMES = {"evidence.ip_address": "evidence.ip"}


def _validate_phone(value: str) -> None:
    try:
        phone_normalize(value)
    except InvalidPhoneNumber as exc:
        raise serializers.ValidationError(str(exc)) from None


def _api_actor(request: Request) -> Actor:
    """The API user, named by how they signed in, and the address they called from (for the audit log)."""
    via = "api token" if isinstance(request.successful_authenticator, TokenAuthentication) else "api session"
    return Actor(user=request.user, label=f"{via} of {request.user.get_username()}", ip_address=client_ip(request))


def _refusal_as_validation_error(exc: ConsentRefused | RightsRefused) -> serializers.ValidationError:
    """The service's refusal as a 400 with the message under the input at fault, nested like the input."""
    path = _API_FIELD_NAMES.get(exc.field, exc.field) or "non_field_errors"
    detail: Any = [str(exc)]
    for part in reversed(path.split(".")):
        detail = {part: detail}
    return serializers.ValidationError(detail)


def _paginated(request: Request, view: APIView, queryset: QuerySet, serializer_class: type[serializers.Serializer]) -> Response:
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _page_of(name: str, serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """Schema of a LimitOffsetPagination page of ``serializer_class``."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


AUTH_ERRORS = {
    401: OpenApiResponse(description="No token or an unknown one: send `Authorization: Token <key>`."),
    403: OpenApiResponse(description="The token's user has no role (Marketer, Support, Approver) allowing this."),
}
INVALID = {400: OpenApiResponse(description="Invalid input: a message per field, nested like the input.")}
NOT_FOUND = {404: OpenApiResponse(description="No contact with this id.")}

PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description="Items per page (default 100)."),
    OpenApiParameter("offset", int, description="Items to skip."),
]


class ContactDetailApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {"GET": ("consent.view_contact",), "PATCH": ("consent.rectify_contact",)}

    class OutputSerializer(serializers.ModelSerializer):
        tags = serializers.ManyRelatedField(child_relation=serializers.SlugRelatedField(read_only=True, slug_field="name"), read_only=True)
        marketing_consent = serializers.ChoiceField(
            choices=ConsentStatus.choices, read_only=True, help_text="Current marketing consent; only opted_in may be messaged."
        )

        class Meta:
            model = Contact
            ref_name = "Contact"
            fields = [
                "id",
                "phone",
                "wa_id",
                "name",
                "language",
                "time_zone",
                "country",
                "attributes",
                "tags",
                "marketing_consent",
                "created_at",
                "updated_at",
                "erased_at",
            ]

    class RectifySerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, trim_whitespace=True)
        phone = serializers.CharField(
            max_length=40, required=False, validators=[_validate_phone],
            help_text="The corrected number (any format). Consent given for the old number ends: the person opts in again.",
        )  # fmt: skip
        reason = serializers.CharField(required=False, allow_blank=True, help_text="Why, e.g. the person's request; kept in the audit log.")

        class Meta:
            ref_name = "ContactRectify"

    @extend_schema(operation_id="contact_get", responses={200: OutputSerializer, **AUTH_ERRORS, **NOT_FOUND}, tags=["contacts"])
    def get(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(contact_list(), pk=contact_id)
        return Response(self.OutputSerializer(contact).data)

    @extend_schema(
        operation_id="contact_rectify",
        description="Correct a person's name or number on their request (audit-logged).",
        request=RectifySerializer,
        responses={200: OutputSerializer, **INVALID, **AUTH_ERRORS, **NOT_FOUND},
        tags=["contacts"],
    )
    def patch(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(Contact, pk=contact_id)
        serializer = self.RectifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            contact_rectify(contact=contact, actor=_api_actor(request), **serializer.validated_data)
        except RightsRefused as exc:
            raise _refusal_as_validation_error(exc) from None
        return Response(self.OutputSerializer(contact_list().get(pk=contact.pk)).data)


class ContactListUpsertApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {
        "GET": ("consent.view_contact",),
        "POST": ("consent.add_contact", "consent.change_contact"),
    }

    class FilterSerializer(serializers.Serializer):
        phone = serializers.CharField(required=False, validators=[_validate_phone])

    class InputSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=40, validators=[_validate_phone], help_text="Any format; stored as E.164.")
        name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        language = serializers.CharField(max_length=15, required=False, allow_blank=True, help_text="e.g. en_US or de")
        time_zone = serializers.CharField(
            required=False, validators=[validate_time_zone], help_text="IANA name; derived from the number when absent."
        )
        attributes = serializers.DictField(required=False, help_text="Merged into the contact's attributes.")
        tags = serializers.ListField(child=serializers.SlugField(max_length=64), required=False, help_text="Added to the contact's tags.")
        wa_id = serializers.RegexField(
            r"^\d{6,20}$", required=False, help_text="WhatsApp id: digits only, those of the phone number."
        )

        class Meta:
            ref_name = "ContactUpsert"

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            # A wa_id of another number would route this person's replies and opt-outs to someone else.
            wa_id = data.get("wa_id")
            if wa_id:
                e164 = phone_normalize(data["phone"])
                if not phone_wa_id_matches(e164, wa_id):
                    mismatch = f"wa_id {wa_id} is not the WhatsApp id of phone {e164} (expected {phone_to_wa_id(e164)})."
                    raise serializers.ValidationError({"phone": [mismatch], "wa_id": [mismatch]})
            return data

    @extend_schema(
        operation_id="contact_list",
        parameters=[OpenApiParameter("phone", str, description="Only the contact with this number (any format)."), *PAGE_PARAMETERS],
        responses={200: _page_of("ContactPage", ContactDetailApi.OutputSerializer), **INVALID, **AUTH_ERRORS},
        tags=["contacts"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return _paginated(request, self, contact_list(**filters.validated_data), ContactDetailApi.OutputSerializer)

    @extend_schema(
        operation_id="contact_upsert",
        description="Create the contact for a phone number, or update it when it exists (attributes merged, tags added).",
        request=InputSerializer,
        responses={201: ContactDetailApi.OutputSerializer, 200: ContactDetailApi.OutputSerializer, **INVALID, **AUTH_ERRORS},
        tags=["contacts"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contact, created = contact_upsert_recorded(actor=_api_actor(request), **serializer.validated_data)
        contact = contact_list().get(pk=contact.pk)
        return Response(
            ContactDetailApi.OutputSerializer(contact).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ConsentEventOutputSerializer(serializers.Serializer):
    class EvidenceSerializer(serializers.Serializer):
        notice_text = serializers.CharField()
        notice_version = serializers.CharField()
        page_url = serializers.CharField()
        ip = serializers.IPAddressField(source="ip_address", allow_null=True)
        user_agent = serializers.CharField()
        note = serializers.CharField()

        class Meta:
            ref_name = "ConsentEvidenceOut"

    id = serializers.IntegerField()
    contact = serializers.IntegerField(source="contact_id")
    purpose = serializers.CharField(source="purpose.code")
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    # A declared field may be called "source": DRF's metaclass takes it off the class; the stubs see Field.source.
    source = serializers.ChoiceField(choices=ConsentSource.choices)  # type: ignore[assignment]
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    recorded_by = serializers.CharField(source="recorded_by.username", allow_null=True, default=None)
    recorded_via = serializers.CharField()
    evidence = EvidenceSerializer(source="*")
    evidence_erased_at = serializers.DateTimeField(allow_null=True)
    entry_hash = serializers.CharField(help_text="Hash chaining this event to the one before it in the ledger.")

    class Meta:
        ref_name = "ConsentEvent"


class ContactConsentListApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {"GET": ("consent.view_contact", "consent.view_consentevent")}

    @extend_schema(
        operation_id="contact_consent_list",
        description="The contact's consent history, newest first.",
        parameters=PAGE_PARAMETERS,
        responses={200: _page_of("ConsentEventPage", ConsentEventOutputSerializer), **AUTH_ERRORS, **NOT_FOUND},
        tags=["consents"],
    )
    def get(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(Contact, pk=contact_id)
        return _paginated(request, self, contact_consent_events(contact), ConsentEventOutputSerializer)


class ConsentRecordApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {"POST": ("consent.add_consentevent",)}

    class InputSerializer(serializers.Serializer):
        class EvidenceSerializer(serializers.Serializer):
            notice_text = serializers.CharField(
                required=False, allow_blank=True, trim_whitespace=False, help_text="The exact wording the person agreed to; required for opt_in."
            )
            notice_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
            page_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
            ip = serializers.IPAddressField(required=False, allow_null=True, help_text="The person's IP address.")
            user_agent = serializers.CharField(max_length=500, required=False, allow_blank=True)
            note = serializers.CharField(required=False, allow_blank=True)

            class Meta:
                ref_name = "ConsentEvidenceIn"

        phone = serializers.CharField(max_length=40, validators=[_validate_phone], help_text="Any format; the contact is created when new.")
        purpose = serializers.CharField(max_length=40, default=Purpose.MARKETING)
        action = serializers.ChoiceField(choices=ConsentAction.choices)
        source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named "source", as above
            choices=API_SOURCES, help_text="Where the person gave or withdrew consent."
        )
        evidence = EvidenceSerializer(required=False)
        occurred_at = serializers.DateTimeField(required=False, help_text="When the person acted; now when absent.")

        class Meta:
            ref_name = "ConsentRecord"

    @extend_schema(
        operation_id="consent_record",
        description=(
            "Record an opt-in or opt-out. An opt-in needs evidence.notice_text. An opt-in for a number that "
            "opted out is refused: only the person can opt in again, on WhatsApp or the opt-in page."
        ),
        request=InputSerializer,
        responses={201: ConsentEventOutputSerializer, **INVALID, **AUTH_ERRORS},
        tags=["consents"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        evidence = data.get("evidence", {})
        try:
            event = consent_record_by_phone(
                phone=data["phone"],
                action=data["action"],
                source=data["source"],
                purpose=data["purpose"],
                evidence=Evidence(
                    notice_text=evidence.get("notice_text", ""),
                    notice_version=evidence.get("notice_version", ""),
                    page_url=evidence.get("page_url", ""),
                    ip_address=evidence.get("ip"),
                    user_agent=evidence.get("user_agent", ""),
                    note=evidence.get("note", ""),
                ),
                occurred_at=data.get("occurred_at"),
                actor=_api_actor(request),
            )
        except ConsentRefused as exc:
            raise _refusal_as_validation_error(exc) from None
        return Response(ConsentEventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


class ContactExportApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {"GET": ("consent.export_contact",)}

    @extend_schema(
        operation_id="contact_export",
        description=(
            "Everything held about the person, as one JSON package (right of access): profile, consent states "
            "and events with evidence, messages with their statuses and decisions, clicks, inbound messages, "
            "opt-in confirmations, behaviour events and the audit entries about them. The export is audit-logged."
        ),
        responses={200: OpenApiResponse(description="The data package (format retarget.contact-export/1)."), **AUTH_ERRORS, **NOT_FOUND},
        tags=["data-subject rights"],
    )
    def get(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(Contact, pk=contact_id)
        return Response(contact_export(contact=contact, actor=_api_actor(request)))


class ContactEraseApi(APIView):
    permission_classes = [HasRequiredPermissions]
    required_permissions = {"POST": ("consent.erase_contact",)}

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, help_text="e.g. the request's ticket number; kept in the audit log.")

        class Meta:
            ref_name = "ContactErase"

    class OutputSerializer(serializers.Serializer):
        contact = serializers.IntegerField(source="contact_id")
        erased_at = serializers.DateTimeField()
        counts = serializers.DictField(child=serializers.IntegerField(), help_text="What was removed or emptied, per kind.")

        class Meta:
            ref_name = "ContactErasure"

    @extend_schema(
        operation_id="contact_erase",
        description=(
            "Erase the person's personal data (right to erasure). The number stays suppressed, so it is never "
            "messaged again unless the person opts in anew themselves; campaign counts stay. Cannot be undone."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer, **INVALID, **AUTH_ERRORS, **NOT_FOUND,
            409: OpenApiResponse(description="The contact was erased already."),
        },  # fmt: skip
        tags=["data-subject rights"],
    )
    def post(self, request: Request, contact_id: int) -> Response:
        contact = get_object_or_404(Contact, pk=contact_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            report = contact_erase(contact=contact, actor=_api_actor(request), reason=serializer.validated_data.get("reason", ""))
        except RightsRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.OutputSerializer(report).data)


class TokenRevokeApi(APIView):
    """The caller's own token: an integration that leaked its key, or is retired, switches it off."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="token_revoke",
        description="Revoke the token this request is signed with: every later request with it gets 401.",
        request=None,
        responses={204: OpenApiResponse(description="Revoked."), 401: AUTH_ERRORS[401]},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        api_token_revoke(token=request.auth, actor=_api_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
