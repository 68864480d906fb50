"""Forms of the campaign pages: the builder walks through template, audience, mapping, link and schedule."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from campaigns.models import Campaign, Segment
from campaigns.parameters import CONTACT_FIELDS, template_has_tracked_link
from campaigns.variants import LABELS, MAX_CONTROL_PERCENT
from whatsapp.models import MessageTemplate
from whatsapp.selectors import templates_sendable

MAX_PARAMETERS = 10
SOURCE_CHOICES = [
    ("field", "Contact field"),
    ("attribute", "Contact attribute"),
    ("event", "Latest event's property"),
    ("value", "Same text for everyone"),
]
_SOURCES = {value for value, _ in SOURCE_CHOICES}


class TemplateSelect(forms.Select):
    """A template choice whose options carry what the page needs to adapt without a round trip."""

    def create_option(self, name: str, value: Any, label: Any, selected: Any, index: int, subindex: Any = None, attrs: Any = None) -> dict:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        template = getattr(value, "instance", None)
        if isinstance(template, MessageTemplate):
            option["attrs"].update(
                {
                    "data-params": json.dumps(list(template.parameter_names)),
                    "data-link": "1" if template_has_tracked_link(template) else "0",
                    "data-link-base": template.url_button_base,
                }
            )
        return option


def _entry_to_row(entry: dict) -> dict[str, str]:
    if "value" in entry:
        return {"source": "value", "key": entry["value"]}
    if "event" in entry:
        return {"source": "event", "key": entry["event"], "property": entry.get("property", ""), "fallback": entry.get("fallback", "")}
    source = "field" if "field" in entry else "attribute"
    return {"source": source, "key": entry.get(source, ""), "fallback": entry.get("fallback", "")}


class CampaignBuilderForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="For your team; people never see it.")
    template = forms.ModelChoiceField(
        queryset=templates_sendable(), widget=TemplateSelect, empty_label="Choose an approved template",
        help_text="Only templates WhatsApp approved can be sent. Templates are written and approved in Meta's WhatsApp Manager.",
    )  # fmt: skip
    segment = forms.ModelChoiceField(queryset=Segment.objects.all(), empty_label="Choose a segment", help_text="Who receives it.")
    tracked_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Link destination",
        help_text="Where the template's link button takes people. Each message gets its own tracked link, so clicks are counted.",
    )  # fmt: skip
    send_at = forms.DateTimeField(
        required=False, label="Send from", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: as soon as it is approved.",
    )  # fmt: skip
    local_time = forms.TimeField(
        required=False, label="At local time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Optional: send at this time of day in each person's own time zone.",
    )  # fmt: skip
    expires_at = forms.DateTimeField(
        required=False, label="Give up at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional: messages still waiting (caps, quiet hours) at this time are skipped.",
    )  # fmt: skip
    max_per_day = forms.IntegerField(required=False, min_value=1, label="Stricter daily cap")
    max_per_week = forms.IntegerField(required=False, min_value=1, label="Stricter 7-day cap")
    # Media headers, text-header variables, coupon code, offer expiry and carousel cards, as the API takes
    # them (campaigns.parameters); the body rows above stay the body's.
    parameters_more = forms.CharField(
        required=False, label="Header, coupon, offer and cards", widget=forms.Textarea(attrs={"rows": 4}),
        help_text='For templates with a media header, a coupon, a limited-time offer or cards, e.g. '
        '{"header": {"image": {"link": "https://..."}}, "cards": [{"header": {"image": {"link": "https://..."}}}]}.',
    )  # fmt: skip

    # A/B test and how its results are counted (campaigns.variants, campaigns.attribution).
    control_percent = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_CONTROL_PERCENT, label="Hold out (control group), %",
        help_text="This share of the audience is never messaged; the results compare the others with them.",
    )  # fmt: skip
    conversion_event = forms.CharField(required=False, max_length=100, initial="purchase", label="Conversion event", help_text="e.g. purchase")
    conversion_value_property = forms.CharField(
        required=False, max_length=100, initial="value", label="Revenue property", help_text="The event's property holding its value"
    )
    conversion_window_days = forms.IntegerField(
        required=False, min_value=1, initial=7, label="Counted for, days", help_text="After the person read or clicked the message"
    )

    def __init__(self, *args: Any, campaign: Campaign | None = None, **kwargs: Any) -> None:
        if campaign is not None and (not args or args[0] is None) and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(campaign)
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        if campaign is not None and campaign.is_follow_up:
            del self.fields["segment"]  # its audience is its parent's recipients
            self.fields["send_at"].help_text = "Empty: as early as allowed (the parent's start plus the follow-up's delay)."
        for i in range(MAX_PARAMETERS):
            self.fields[f"param_{i}_source"] = forms.ChoiceField(choices=SOURCE_CHOICES, required=False, label="Filled from")
            self.fields[f"param_{i}_key"] = forms.CharField(required=False, max_length=1024, label="Name or text")
            self.fields[f"param_{i}_property"] = forms.CharField(required=False, max_length=200, label="Property")
            self.fields[f"param_{i}_fallback"] = forms.CharField(required=False, max_length=1024, label="If empty")
        for label in LABELS:
            self.fields[f"variant_{label}_share"] = forms.IntegerField(required=False, min_value=1, max_value=99, label="Share, %")
            self.fields[f"variant_{label}_template"] = forms.ModelChoiceField(
                queryset=templates_sendable(), required=False, empty_label="The template above", label="Template"
            )
            self.fields[f"variant_{label}_parameters"] = forms.CharField(
                required=False, label="Values", widget=forms.Textarea(attrs={"rows": 2}),
                help_text='Empty: the values above. Else as the API takes them, e.g. [{"field": "name"}, {"value": "30%"}]',
            )  # fmt: skip

    @staticmethod
    def initial_from(campaign: Campaign) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(campaign, name)
            for name in ("name", "template", "segment", "tracked_url", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week")
        }
        for name in ("control_percent", "conversion_event", "conversion_value_property", "conversion_window_days"):
            initial[name] = getattr(campaign, name)
        for label, entry in zip(LABELS, campaign.variants or [], strict=False):
            initial[f"variant_{label}_share"] = entry.get("share")
            if entry.get("template"):
                initial[f"variant_{label}_template"] = MessageTemplate.objects.filter(name=entry["template"], language=entry.get("language")).first()
            if entry.get("parameters") is not None:
                initial[f"variant_{label}_parameters"] = json.dumps(entry["parameters"])
        parameters = campaign.parameters or []
        body = parameters.get("body", []) if isinstance(parameters, dict) else parameters
        for i, entry in enumerate(body):
            for key, value in _entry_to_row(entry).items():
                initial[f"param_{i}_{key}"] = value
        if isinstance(parameters, dict):
            more = {key: value for key, value in parameters.items() if key != "body"}
            initial["parameters_more"] = json.dumps(more, indent=1) if more else ""
        return initial

    # --- what the page shows ---

    def _chosen(self, name: str) -> Any:
        """The object chosen in ``name``, also from a form that does not validate (for the preview)."""
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField) and field.queryset is not None, f"{name} is a choice of a model"
        if not self.is_bound:
            chosen = self.initial.get(name)
            return chosen if isinstance(chosen, field.queryset.model) else None
        raw = str(self.data.get(name) or "")
        return field.queryset.filter(pk=raw).first() if raw.isdigit() else None

    def selected_template(self) -> MessageTemplate | None:
        return self._chosen("template")

    def selected_segment(self) -> Segment | None:
        return self._chosen("segment") if "segment" in self.fields else None

    def parameter_rows(self) -> list[dict[str, Any]]:
        """One row per possible parameter: bound fields, the placeholder name, shown or not."""
        template = self.selected_template()
        names = list(template.parameter_names) if template else []
        return [
            {
                "index": i,
                "name": names[i] if i < len(names) else str(i + 1),
                "shown": i < len(names),
                **{part: self[f"param_{i}_{part}"] for part in ("source", "key", "property", "fallback")},
            }
            for i in range(MAX_PARAMETERS)
        ]

    def mapping(self, count: int) -> Any:
        """The parameter mapping: the first ``count`` body rows, and the other parts when given (raw data)."""
        body = self._body_mapping(count)
        raw = (self.data.get("parameters_more", "") if self.is_bound else self.initial.get("parameters_more", "")) or ""
        if not str(raw).strip():
            return body
        try:
            more = json.loads(raw)
        except ValueError:
            return {"body": body, "(the header, coupon, offer and cards box: not valid JSON)": raw}
        return {"body": body, **more} if isinstance(more, dict) else {"body": body, "(the header, coupon, offer and cards box: not an object)": more}

    def _body_mapping(self, count: int) -> list[dict[str, str]]:
        source_of = (lambda name: self.data.get(name, "")) if self.is_bound else (lambda name: self.initial.get(name, ""))
        entries = []
        for i in range(count):
            source = source_of(f"param_{i}_source") or "field"
            key = (source_of(f"param_{i}_key") or "").strip() if source != "value" else source_of(f"param_{i}_key") or ""
            fallback = (source_of(f"param_{i}_fallback") or "").strip()
            entry: dict[str, str] = {source if source in _SOURCES else "field": key}
            if source == "event":
                entry["property"] = (source_of(f"param_{i}_property") or "").strip()
            if fallback and source != "value":
                entry["fallback"] = fallback
            entries.append(entry)
        return entries

    def variant_rows(self) -> list[dict[str, Any]]:
        """One row per possible variant (A-D): its bound fields."""
        return [{"label": label, **{part: self[f"variant_{label}_{part}"] for part in ("share", "template", "parameters")}} for label in LABELS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for label in LABELS:
            raw = (cleaned.get(f"variant_{label}_parameters") or "").strip()
            if raw:
                try:
                    json.loads(raw)
                except ValueError:
                    self.add_error(f"variant_{label}_parameters", "Not valid JSON: a list like [{\"field\": \"name\"}].")
        return cleaned

    def variants(self) -> list[dict[str, Any]]:
        """The variants as Campaign.variants holds them: the rows with a share (call after is_valid)."""
        variants = []
        for label in LABELS:
            share = self.cleaned_data.get(f"variant_{label}_share")
            if share is None:
                continue
            entry: dict[str, Any] = {"share": share}
            template = self.cleaned_data.get(f"variant_{label}_template")
            if template is not None:
                entry.update(template=template.name, language=template.language)
            raw = (self.cleaned_data.get(f"variant_{label}_parameters") or "").strip()
            if raw:
                entry["parameters"] = json.loads(raw)
            variants.append(entry)
        return variants

    def conversion_fields(self) -> dict[str, Any]:
        """How conversions are counted; a field left empty keeps what the campaign has (or the default)."""
        fields = {}
        for name in ("conversion_event", "conversion_value_property", "conversion_window_days"):
            value = self.cleaned_data.get(name)
            # Empty revenue property: no revenue; absent from the form (e.g. an older page): unchanged.
            if name not in self.data or (value in (None, "") and name != "conversion_value_property"):
                value = getattr(self.campaign if self.campaign else Campaign(), name)  # the campaign's, or the default
            fields[name] = value if value is not None else ""
        return fields

    def campaign_fields(self) -> dict[str, Any]:
        """The campaign as the services take it (call after is_valid); without how conversions are counted."""
        data: dict[str, Any] = {
            name: self.cleaned_data[name]
            for name in ("name", "template", "segment", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week")
            if name in self.fields
        }
        data["variants"] = self.variants()
        data["control_percent"] = self.cleaned_data.get("control_percent") or 0
        template = self.cleaned_data["template"]
        data["parameters"] = self.mapping(template.parameter_count)
        data["tracked_url"] = self.cleaned_data["tracked_url"] if template_has_tracked_link(template) else ""
        return data


FIELD_HELP = {
    "field": f"One of: {', '.join(CONTACT_FIELDS)}",
    "attribute": "An attribute name, e.g. first_name (dots for nesting)",
    "event": "An event name, e.g. product_viewed, and its property, e.g. sku",
    "value": "The text itself, e.g. 20%",
}
