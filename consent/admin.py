"""Admin of the consent domain. Consent changes go through the services; the ledger and audit log are read-only."""

from __future__ import annotations

import io
import json
import secrets
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from consent.bulk import BulkRefused, BulkResult, contacts_opt_out, contacts_tag, contacts_untag
from consent.forms import (
    ContactAdminForm,
    ContactEraseForm,
    ContactImportForm,
    ContactRectifyForm,
    SupportOptInForm,
    SupportOptOutForm,
)
from consent.imports import (
    ATTRIBUTE,
    MAPPING_TARGETS,
    SAMPLE_CSV,
    ImportFileError,
    contacts_import,
    file_headers,
    mapping_guess,
)
from consent.models import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Contact,
    Purpose,
    Suppression,
    Tag,
)
from consent.phones import InvalidPhoneNumber
from consent.rights import RightsRefused, contact_erase, contact_export, contact_rectify
from consent.selectors import (
    contact_consent_events,
    contacts_by_consent_status,
    contacts_with_consent_status,
    phone_search_numbers,
)
from consent.services import (
    ConsentRefused,
    Evidence,
    consent_grant,
    consent_revoke,
    contact_is_suppressed,
    contact_phone_fields,
    suppression_hash,
)
from core.admin import ReadOnlyAdmin, staff_actor
from core.pagination import EstimatedCountPaginator
from core.redirects import safe_next

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from consent.selectors import ContactWithConsent

RECORD_CONSENT_PERMISSION = "consent.add_consentevent"
IMPORT_PERMISSION = "consent.import_contacts"
EXPORT_PERMISSION = "consent.export_contact"
ERASE_PERMISSION = "consent.erase_contact"
RECTIFY_PERMISSION = "consent.rectify_contact"
IMPORT_KEPT_SECONDS = 30 * 60


def _import_cache_key(request: HttpRequest, token: str) -> str:
    return f"contact-import:{request.user.pk}:{token}"


class PhoneSearchMixin:
    """Search by a number typed in any format (normalised first) or by name.

    ``phone_lookup``/``name_lookup`` say where the number and the name are; a model without them
    (suppressions) overrides ``phone_search_q``.
    """

    search_fields: ClassVar[tuple[str, ...] | list[str]] = ("name",)  # shows the search box; the lookups do the work
    search_help_text: ClassVar[StrOrPromise | None] = "Phone number in any format (+49 151 2345 6789, 0151…, 4915…) or name."
    phone_lookup = "phone"
    name_lookup: str | None = "name"

    def phone_search_q(self, numbers: list[str]) -> Q:
        return Q(**{f"{self.phone_lookup}__in": numbers})

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(pk__in=[])
        if self.name_lookup:
            condition |= Q(**{f"{self.name_lookup}__icontains": term})
        numbers = phone_search_numbers(term)
        if numbers:
            condition |= self.phone_search_q(numbers)
        return queryset.filter(condition), False


class MarketingConsentFilter(admin.SimpleListFilter):
    title = "marketing consent"
    parameter_name = "consent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(ConsentStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        status = self.value()
        if status in ConsentStatus.values:
            return contacts_by_consent_status(queryset, status)
        return queryset


_STATUS_COLOURS: dict[str, str] = {ConsentStatus.OPTED_IN: "#1a7f37", ConsentStatus.OPTED_OUT: "#b42318", ConsentStatus.NONE: "#57606a"}


def _status_badge(status: str) -> str:
    return format_html('<strong style="color:{}">{}</strong>', _STATUS_COLOURS[status], ConsentStatus(status).label)


@admin.register(Contact)
class ContactAdmin(PhoneSearchMixin, admin.ModelAdmin):
    form = ContactAdminForm
    list_display = ("phone", "name", "country", "marketing_consent", "tag_list", "created_at")
    list_display_links = ("phone", "name")
    list_filter = (MarketingConsentFilter, "country", "tags")
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # a million contacts: no COUNT(*) on every page view
    filter_horizontal = ("tags",)
    readonly_fields = ("country", "last_inbound_at", "created_at", "updated_at", "erased_at")
    change_form_template = "admin/consent/contact/change_form.html"
    change_list_template = "admin/consent/contact/change_list.html"
    actions = ("tag_action", "untag_action", "opt_out_action")

    def has_record_consent_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECORD_CONSENT_PERMISSION)

    # --- Bulk actions on the selected (or all filtered) contacts -----------------------------------

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Contact], title: str, label: str, run: Any) -> HttpResponse | None:
        """Ask for the tag or reason on a page of its own, then run; the selection and filters ride along."""
        value = request.POST.get("bulk_value", "")
        if request.POST.get("bulk_apply"):
            try:
                result = run(queryset, value)
            except BulkRefused as exc:
                self.message_user(request, f"Nothing changed: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{title}: {result.changed} changed, {result.unchanged} already so.", messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "label": label,
            "value": value,
            "count": queryset.count(),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/consent/contact/bulk_action.html", context)

    @admin.action(description="Tag the selected contacts", permissions=["change"])
    def tag_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        def run(contacts: QuerySet[Contact], value: str) -> BulkResult:
            return contacts_tag(contacts=contacts, tag_name=value, actor=staff_actor(request))

        return self._bulk(request, queryset, "Tag contacts", "Tag to add", run)

    @admin.action(description="Remove a tag from the selected contacts", permissions=["change"])
    def untag_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        def run(contacts: QuerySet[Contact], value: str) -> BulkResult:
            return contacts_untag(contacts=contacts, tag_name=value, actor=staff_actor(request))

        return self._bulk(request, queryset, "Remove a tag", "Tag to remove", run)

    @admin.action(description="Record an opt-out for the selected contacts", permissions=["record_consent"])
    def opt_out_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        def run(contacts: QuerySet[Contact], value: str) -> BulkResult:
            return contacts_opt_out(contacts=contacts, reason=value, actor=staff_actor(request))

        return self._bulk(request, queryset, "Record opt-outs", "Why (who asked, where, a ticket number)", run)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return contacts_with_consent_status(super().get_queryset(request)).prefetch_related("tags")

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> tuple[str, ...]:
        # The number is who the person is: a different number is a different contact.
        return ("phone", "wa_id", *self.readonly_fields) if obj else self.readonly_fields

    @admin.display(description="Marketing consent", ordering="marketing_consent")
    def marketing_consent(self, contact: ContactWithConsent) -> str:
        return _status_badge(contact.marketing_consent)

    @admin.display(description="Tags")
    def tag_list(self, contact: Contact) -> str:
        return ", ".join(tag.name for tag in contact.tags.all())

    def save_model(self, request: HttpRequest, obj: Contact, form: Form, change: bool) -> None:
        if not change:
            phone = cast(str, obj.phone)  # ContactAdminForm.clean_phone refuses a missing number
            derived = contact_phone_fields(phone, time_zone=form.cleaned_data["time_zone"] or None, wa_id=obj.wa_id or None)
            for attr, value in derived.items():
                setattr(obj, attr, value)
        elif not form.cleaned_data["time_zone"]:
            obj.time_zone = Contact.objects.values_list("time_zone", flat=True).get(pk=obj.pk)
        if change and "name" in form.changed_data:
            # A name edit is a correction of personal data: the service records it in the audit log.
            new_name, obj.name = obj.name, Contact.objects.values_list("name", flat=True).get(pk=obj.pk)
            super().save_model(request, obj, form, change)
            contact_rectify(contact=obj, actor=staff_actor(request), name=new_name)
            obj.name = new_name
            return
        super().save_model(request, obj, form, change)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        contact = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if contact is not None:
            context.update(
                consent_status=_status_badge(contact.marketing_consent),
                suppressed=contact_is_suppressed(contact),
                timeline=contact_consent_events(contact),
                can_record_consent=request.user.has_perm(RECORD_CONSENT_PERMISSION) and not contact.erased_at,
                can_export=request.user.has_perm(EXPORT_PERMISSION),
                can_erase=request.user.has_perm(ERASE_PERMISSION) and not contact.erased_at,
                can_rectify=request.user.has_perm(RECTIFY_PERMISSION) and not contact.erased_at,
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "can_import": request.user.has_perm(IMPORT_PERMISSION)}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="consent_contact_import"),
            path("<path:object_id>/record-opt-out/", wrap(self.record_opt_out_view), name="consent_contact_record_opt_out"),
            path("<path:object_id>/record-opt-in/", wrap(self.record_opt_in_view), name="consent_contact_record_opt_in"),
            path("<path:object_id>/export/", wrap(self.export_view), name="consent_contact_export"),
            path("<path:object_id>/erase/", wrap(self.erase_view), name="consent_contact_erase"),
            path("<path:object_id>/rectify/", wrap(self.rectify_view), name="consent_contact_rectify"),
            *super().get_urls(),
        ]

    # --- Support records consent for a person who asked them -------------------------------------

    def _contact_for(self, request: HttpRequest, object_id: str, permission: str) -> ContactWithConsent:
        """The contact, if the user may see it and holds ``permission`` (else 403)."""
        contact = get_object_or_404(contacts_with_consent_status(), pk=object_id)
        if not (self.has_view_permission(request, contact) and request.user.has_perm(permission)):
            raise PermissionDenied
        return contact

    def _contact_page(self, request: HttpRequest, contact: ContactWithConsent, form: Form, title: str, template: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": contact,
            "title": title,
            "form": form,
            "consent_status": _status_badge(contact.marketing_consent),
        }
        return TemplateResponse(request, template, context)

    def _record_consent(self, request: HttpRequest, object_id: str, form_class: type[Form], title: str, record: Any) -> HttpResponse:
        contact = self._contact_for(request, object_id, RECORD_CONSENT_PERMISSION)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                record(contact, form.cleaned_data)
            except ConsentRefused as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"{title}: recorded for {contact}.", messages.SUCCESS)
                return HttpResponseRedirect(safe_next(request, reverse("admin:consent_contact_change", args=[contact.pk])))
        return self._contact_page(request, contact, form, title, "admin/consent/contact/record_consent.html")

    def record_opt_out_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def record(contact: Contact, data: dict[str, Any]) -> None:
            consent_revoke(contact=contact, source=ConsentSource.SUPPORT, evidence=Evidence(note=data["reason"]), actor=staff_actor(request))

        return self._record_consent(request, object_id, SupportOptOutForm, "Opt-out", record)

    def record_opt_in_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def record(contact: Contact, data: dict[str, Any]) -> None:
            evidence = Evidence(notice_text=data["notice_text"], notice_version=data["notice_version"], note=data["evidence"])
            consent_grant(contact=contact, source=ConsentSource.SUPPORT, evidence=evidence, actor=staff_actor(request))

        return self._record_consent(request, object_id, SupportOptInForm, "Opt-in", record)

    # --- Data-subject requests: export, erasure, correction --------------------------------------

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        contact = self._contact_for(request, object_id, EXPORT_PERMISSION)
        package = contact_export(contact=contact, actor=staff_actor(request))
        response = HttpResponse(json.dumps(package, indent=2, cls=DjangoJSONEncoder), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}-export.json"'
        return response

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        contact = self._contact_for(request, object_id, ERASE_PERMISSION)
        form = ContactEraseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                report = contact_erase(contact=contact, actor=staff_actor(request), reason=form.cleaned_data["reason"])
            except RightsRefused as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request, f"Contact #{report.contact_id} erased. Its number stays suppressed.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:consent_contact_change", args=[contact.pk]))
        return self._contact_page(request, contact, form, "Erase personal data", "admin/consent/contact/erase.html")

    def rectify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        contact = self._contact_for(request, object_id, RECTIFY_PERMISSION)
        form = ContactRectifyForm(request.POST or None, initial={"name": contact.name, "phone": contact.phone})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                contact_rectify(
                    contact=contact, actor=staff_actor(request), name=data["name"], phone=data["phone"], reason=data["reason"]
                )
            except (RightsRefused, InvalidPhoneNumber) as exc:
                form.add_error(getattr(exc, "field", "") or None, str(exc))
            else:
                self.message_user(request, "Correction saved and recorded in the audit log.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:consent_contact_change", args=[contact.pk]))
        return self._contact_page(request, contact, form, "Correct name or number", "admin/consent/contact/rectify.html")

    # --- CSV upload --------------------------------------------------------------------------------

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload, map the file's columns, preview (a dry run), then import exactly what was previewed.

        Between the steps the file waits in the cache under a random token, for the uploader only.
        """
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        if request.GET.get("sample"):
            response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="contacts-sample.csv"'
            return response
        form = ContactImportForm(request.POST or None, request.FILES or None)
        context: dict[str, Any] = {}
        step = request.POST.get("step", "")
        if request.method == "POST" and step in ("preview", "import"):
            context = self._import_mapped(request, step == "preview")
            if "report" not in context and "file_lost" in context:
                form.add_error("file", context.pop("file_lost"))
        elif request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text: save it as 'CSV UTF-8' and upload it again.")
            else:
                token = secrets.token_urlsafe(16)
                cache.set(_import_cache_key(request, token), {"text": text, "name": upload.name}, IMPORT_KEPT_SECONDS)
                headers = file_headers(text.splitlines()[0] if text else "")
                guess = mapping_guess(headers)
                context = {"token": token, "file_name": upload.name, "columns": [(i, name, guess[name]) for i, name in enumerate(headers)]}
        report = context.get("report")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import contacts from CSV",
            "form": form,
            "targets": MAPPING_TARGETS,
            "unlisted_problems": report.rejected - len(report.problems) if report else 0,
            **context,
        }
        return TemplateResponse(request, "admin/consent/contact/import.html", context)

    def _import_mapped(self, request: HttpRequest, dry_run: bool) -> dict[str, Any]:
        token = request.POST.get("token", "")
        stored = cache.get(_import_cache_key(request, token)) if token else None
        if stored is None:
            return {"file_lost": "The uploaded file is no longer kept (it waits 30 minutes); upload it again."}
        headers = file_headers(stored["text"].splitlines()[0] if stored["text"] else "")
        mapping = {name: request.POST.get(f"map_{i}", ATTRIBUTE) for i, name in enumerate(headers)}
        context: dict[str, Any] = {"file_name": stored["name"], "token": token, "columns": [(i, name, mapping[name]) for i, name in enumerate(headers)]}
        try:
            report = contacts_import(
                file=io.StringIO(stored["text"], newline=""), actor=staff_actor(request), file_name=stored["name"],
                mapping=mapping, dry_run=dry_run,
            )  # fmt: skip
        except ImportFileError as exc:
            context["mapping_error"] = f"{exc} Nothing was imported."
            return context
        if not dry_run:
            cache.delete(_import_cache_key(request, token))
            context.pop("token")
        context["report"] = report
        return context


@admin.register(ConsentEvent)
class ConsentEventAdmin(PhoneSearchMixin, ReadOnlyAdmin):
    list_display = ("id", "contact", "action", "source", "occurred_at", "recorded_by_display", "notice_version")
    list_filter = ("action", "source", "purpose")
    list_select_related = ("contact", "purpose", "recorded_by")
    phone_lookup = "contact__phone"
    name_lookup = "contact__name"
    search_help_text = "Phone number of the contact in any format, or their name."

    @admin.display(description="Recorded by")
    def recorded_by_display(self, event: ConsentEvent) -> str:
        return event.recorded_by.get_username() if event.recorded_by else event.recorded_via


@admin.register(ConsentState)
class ConsentStateAdmin(PhoneSearchMixin, ReadOnlyAdmin):
    list_display = ("contact", "purpose", "status", "since")
    list_filter = ("status", "purpose")
    list_select_related = ("contact", "purpose")
    phone_lookup = "contact__phone"
    name_lookup = "contact__name"


@admin.register(Suppression)
class SuppressionAdmin(PhoneSearchMixin, ReadOnlyAdmin):
    list_display = ("short_hash", "source", "created_at", "lifted_at")
    list_filter = ("source", ("lifted_at", admin.EmptyFieldListFilter))
    name_lookup = None
    search_help_text = "Phone number in any format: suppressions keep only a keyed hash of it."
    search_fields = ("number_hash",)

    def phone_search_q(self, numbers: list[str]) -> Q:
        return Q(number_hash__in=[suppression_hash(n) for n in numbers])

    @admin.display(description="Number (hash)")
    def short_hash(self, suppression: Suppression) -> str:
        return f"{suppression.number_hash[:16]}…"


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
