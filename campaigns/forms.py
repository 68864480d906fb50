"""Forms of the campaign pages: the builder walks through template, audience, mapping, link and schedule."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import Case, IntegerField, QuerySet, When

from campaigns.models import Campaign, Segment
from campaigns.parameters import CONTACT_FIELDS, mapping_for_preview, template_has_tracked_link
from campaigns.previews import message_preview
from campaigns.rich_form import (
    MAX_CARD_PARAMETERS,
    MAX_CARDS,
    MEDIA_ACCEPTS,
    layout_has_parts,
    media_link_problem,
    rich_data_synced,
    rich_error_field,
    rich_error_words,
    rich_fields_add,
    rich_fields_from_more,
    rich_layout,
    rich_more_from_fields,
)
from campaigns.variants import LABELS, MAX_CONTROL_PERCENT
from whatsapp.models import MessageTemplate
from whatsapp.numbers import number_choices
from whatsapp.selectors import templates_sendable

MAX_PARAMETERS = 10
SOURCE_CHOICES = [
    ("field", "Contact field"),
    ("attribute", "Contact attribute"),
    ("event", "Latest event's property"),
    ("value", "Same text for everyone"),
]
_SOURCES = {value for value, _ in SOURCE_CHOICES}


def templates_usable() -> QuerySet[MessageTemplate]:
    """The templates a campaign can be built on: approved at WhatsApp, marketing or utility (an
    authentication template only carries one-time codes), marketing ones first."""
    category = MessageTemplate.Category
    return (
        templates_sendable()
        .filter(category__in=[category.MARKETING, category.UTILITY])
        .annotate(utility_last=Case(When(category=category.UTILITY, then=1), default=0, output_field=IntegerField()))
        .order_by("utility_last", "name", "language")
    )


def template_cards(selected: MessageTemplate | None) -> list[dict[str, Any]]:
    """The template browser's cards: each usable template with its message as written (placeholders
    unfilled) and what the page needs to adapt without a round trip."""
    cards = []
    for template in templates_usable():
        as_written, _ = mapping_for_preview([], template, with_contact=False)
        cards.append({
            "template": template,
            "selected": selected is not None and template.pk == selected.pk,
            "utility": template.category == MessageTemplate.Category.UTILITY,
            "preview": message_preview(template=template, parameters=as_written, contact=None).as_dict(),
            "params": json.dumps(list(template.parameter_names)),
            "link": "1" if template_has_tracked_link(template) else "0",
            "link_base": template.url_button_base,
            "rich": json.dumps(rich_layout(template)),
        })  # fmt: skip
    return cards


def _entry_to_row(entry: dict) -> dict[str, str]:
    if "value" in entry:
        return {"source": "value", "key": entry["value"]}
    if "event" in entry:
        return {"source": "event", "key": entry["event"], "property": entry.get("property", ""), "fallback": entry.get("fallback", "")}
    source = "field" if "field" in entry else "attribute"
    return {"source": source, "key": entry.get(source, ""), "fallback": entry.get("fallback", "")}


class CampaignBuilderForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="For your team; people never see it.")
    # The page draws this choice as the template browser (campaigns/_template_browser.html).
    template = forms.ModelChoiceField(
        queryset=templates_usable(), widget=forms.RadioSelect, empty_label=None,
        error_messages={"required": "Choose a template.", "invalid_choice": "This template cannot be used (any more): choose another one."},
        help_text="Only templates WhatsApp approved can be sent. Templates are written and approved in Meta's WhatsApp Manager.",
    )  # fmt: skip
    segment = forms.ModelChoiceField(queryset=Segment.objects.all(), empty_label="Choose a segment", help_text="Who receives it.")
    phone_number_id = forms.ChoiceField(
        required=False, label="WhatsApp number", help_text="Which of the business's WhatsApp numbers sends it (a brand or country).",
    )  # fmt: skip
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
    # The structured inputs above it (campaigns.rich_form) fill it; it stays behind "Advanced".
    parameters_more = forms.CharField(
        required=False, label="Header, coupon, offer and cards as JSON", widget=forms.Textarea(attrs={"rows": 6}),
        help_text='The same as the inputs above, e.g. '
        '{"header": {"image": {"link": "https://..."}}, "cards": [{"header": {"image": {"link": "https://..."}}}]}; '
        'also takes a media link from a contact attribute: {"image": {"attribute": "photo_url"}}.',
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
        number_field = self.fields["phone_number_id"]
        assert isinstance(number_field, forms.ChoiceField)
        number_field.choices = number_choices()
        for i in range(MAX_PARAMETERS):
            self.fields[f"param_{i}_source"] = forms.ChoiceField(choices=SOURCE_CHOICES, required=False, label="Filled from")
            self.fields[f"param_{i}_key"] = forms.CharField(required=False, max_length=1024, label="Name or text")
            self.fields[f"param_{i}_property"] = forms.CharField(required=False, max_length=200, label="Property")
            self.fields[f"param_{i}_fallback"] = forms.CharField(required=False, max_length=1024, label="If empty")
        rich_fields_add(self.fields)
        if self.is_bound:
            self.data = rich_data_synced(self.data, rich_layout(self.selected_template()))
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
            for name in (
                "name", "template", "segment", "tracked_url", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week",
                "phone_number_id",
            )
        }  # fmt: skip
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
            initial.update(rich_fields_from_more(more))
            # A mapping the inputs cannot hold (a media link from an attribute) opens in the JSON box.
            layout = rich_layout(campaign.template)
            held = rich_more_from_fields(lambda name: initial.get(name, ""), layout) == more
            initial["rich_source"] = "fields" if held or not layout_has_parts(layout) else "json"
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

    # --- the header, coupon, offer and cards ---

    def rich_layout(self) -> dict[str, Any]:
        return rich_layout(self.selected_template())

    def rich_parts(self) -> dict[str, Any]:
        """The structured inputs, grouped as the page shows them, each marked shown or not for the template."""
        layout = self.rich_layout()

        def row(prefix: str) -> dict[str, Any]:
            return {part: self[f"{prefix}_{part}"] for part in ("source", "key", "fallback")}

        cards = []
        for card in range(MAX_CARDS):
            shape = layout["cards"][card] if card < len(layout["cards"]) else {"media": "", "params": [], "buttons": ""}
            cards.append({
                "index": card, "shown": card < len(layout["cards"]), "media": shape["media"], "buttons": shape["buttons"],
                "link": self[f"rich_card_{card}_link"],
                "params": [{"index": i, "shown": i < len(shape["params"]), "name": shape["params"][i] if i < len(shape["params"]) else str(i + 1),
                            **row(f"rich_card_{card}_param_{i}")} for i in range(MAX_CARD_PARAMETERS)],
            })  # fmt: skip
        return {
            "layout": layout, "shown": layout_has_parts(layout), "json_first": self._value("rich_source") == "json",
            "header_link": self["rich_header_link"], "header_text": row("rich_header_text"),
            "header_text_name": layout["header_params"][0] if layout["header_params"] else "1",
            "coupon": row("rich_coupon"), "offer": self["rich_offer_expires_at"], "cards": cards,
            "accepts": MEDIA_ACCEPTS,
        }  # fmt: skip

    def _value(self, name: str) -> str:
        return str((self.data.get(name) if self.is_bound else self.initial.get(name)) or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for label in LABELS:
            raw = (cleaned.get(f"variant_{label}_parameters") or "").strip()
            if raw:
                try:
                    json.loads(raw)
                except ValueError:
                    self.add_error(f"variant_{label}_parameters", "Not valid JSON: a list like [{\"field\": \"name\"}].")
        self._rich_links_check(cleaned)
        return cleaned

    def _rich_links_check(self, cleaned: dict[str, Any]) -> None:
        layout = rich_layout(cleaned.get("template"))
        if self._value("rich_source") != "fields":
            return
        links = [("rich_header_link", layout["header_media"])] if layout["header_media"] and not layout["header_params"] else []
        links += [(f"rich_card_{i}_link", card["media"]) for i, card in enumerate(layout["cards"]) if card["media"]]
        for name, kind in links:
            link = self._value(name).strip()
            problem = media_link_problem(link, kind) if link else None
            if problem:
                self.add_error(name, problem)

    def add_parameters_error(self, message: str) -> None:
        """A mapping error from the services, shown next to the input it is about, in words."""
        if self._value("rich_source") == "fields":
            name = rich_error_field(message, self.rich_layout())
            if name is not None and name in self.fields:
                self.add_error(name, rich_error_words(message, self._value(name)))
                return
        self.add_error("parameters_more" if message.startswith("parameters.") and not message.startswith("parameters.body") else None, message)

    def variant_rows(self) -> list[dict[str, Any]]:
        """One row per possible variant (A-D): its bound fields."""
        return [{"label": label, **{part: self[f"variant_{label}_{part}"] for part in ("share", "template", "parameters")}} for label in LABELS]

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
            for name in ("name", "template", "segment", "send_at", "local_time", "expires_at", "max_per_day", "max_per_week", "phone_number_id")
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
