"""The builder's structured inputs for a rich template's other parts: header media link, header text
variable, copy-code coupon, limited-time offer expiry and carousel cards.

They fill the same object the "Advanced" JSON box holds (campaigns.parameters: everything but the
body), so a marketer never has to type JSON; the box stays for what the inputs do not cover (a media
link read from a contact attribute). Which of the two the page sent last is in ``rich_source``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.parameters import MEDIA_KINDS
from whatsapp import template_shape

MAX_CARDS = 10  # Meta: a carousel has 2 to 10 cards
MAX_CARD_PARAMETERS = 3
VALUE_SOURCES = [("value", "Same text for everyone"), ("field", "Contact field"), ("attribute", "Contact attribute")]
_VALUE_SOURCE_KEYS = {value for value, _ in VALUE_SOURCES}

# What WhatsApp fetches from a media link: Meta's "Supported media types" of the Cloud API media
# reference (developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types):
# images JPEG or PNG up to 5 MB; videos MP4 or 3GPP (H.264 video, AAC audio) up to 16 MB; documents
# (PDF, Office, text) up to 100 MB. The link must be https and public: WhatsApp downloads it itself.
MEDIA_ACCEPTS = {
    "image": "a JPEG or PNG image of at most 5 MB",
    "video": "an MP4 or 3GPP video (H.264 video, AAC audio) of at most 16 MB",
    "document": "a PDF or other document of at most 100 MB",
}
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def rich_layout(template: Any) -> dict[str, Any]:
    """What the chosen template needs besides its body, for the page to show the right inputs."""
    if template is None:
        return {"header_media": "", "header_params": [], "coupon": False, "offer": False, "cards": []}
    components = list(template.components or [])
    media = template_shape.header_format(components).lower()
    cards = []
    for card in template_shape.carousel_cards(components):
        card_media = template_shape.header_format(card).lower()
        cards.append({
            "media": card_media if card_media in MEDIA_KINDS else "",
            "params": template_shape.body_parameter_names(card)[:MAX_CARD_PARAMETERS],
            "buttons": _buttons_described(card),
        })  # fmt: skip
    return {
        "header_media": media if media in MEDIA_KINDS else "",
        "header_params": template_shape.header_parameter_names(components)[:1],  # Meta allows one header variable
        "coupon": template_shape.copy_code_index(components) is not None,
        "offer": bool((template_shape.limited_time_offer(components) or {}).get("has_expiration")),
        "cards": cards[:MAX_CARDS],
    }


def layout_has_parts(layout: dict[str, Any]) -> bool:
    return bool(layout["header_media"] or layout["header_params"] or layout["coupon"] or layout["offer"] or layout["cards"])


def _buttons_described(card: list[dict]) -> str:
    """A card's buttons in words: their payload or link suffix is set for the marketer."""
    url_button = template_shape.dynamic_url_button(card)
    words = []
    for index, button in enumerate(template_shape.buttons(card)):
        kind, text = str(button.get("type", "")).upper(), button.get("text", "")
        if url_button is not None and index == url_button.index:
            words.append(f"“{text}” opens your tracked link")
        elif kind == "QUICK_REPLY":
            words.append(f"“{text}” answers with its own words")
        elif kind == "URL":
            words.append(f"“{text}” opens {button.get('url', '')}")
    return "Buttons: " + "; ".join(words) + "." if words else ""


def _value_row_names(prefix: str) -> list[str]:
    return [f"{prefix}_source", f"{prefix}_key", f"{prefix}_fallback"]


def _card_param_prefix(card: int, index: int) -> str:
    return f"rich_card_{card}_param_{index}"


def rich_field_names() -> list[str]:
    names = ["rich_header_link", *_value_row_names("rich_header_text"), *_value_row_names("rich_coupon"), "rich_offer_expires_at"]
    for card in range(MAX_CARDS):
        names.append(f"rich_card_{card}_link")
        for index in range(MAX_CARD_PARAMETERS):
            names += _value_row_names(_card_param_prefix(card, index))
    return names


def _value_row_fields(fields: dict[str, forms.Field], prefix: str, label: str) -> None:
    fields[f"{prefix}_source"] = forms.ChoiceField(choices=VALUE_SOURCES, required=False, label="Filled from")
    fields[f"{prefix}_key"] = forms.CharField(required=False, max_length=1024, label=label)
    fields[f"{prefix}_fallback"] = forms.CharField(required=False, max_length=1024, label="If empty")


def rich_fields_add(fields: dict[str, forms.Field]) -> None:
    def link(label: str) -> forms.CharField:
        # A URL input for phones' keyboards; the https check is media_link_problem's, in words.
        return forms.CharField(
            required=False, max_length=1000, label=label, widget=forms.URLInput(attrs={"inputmode": "url", "placeholder": "https://"})
        )

    fields["rich_source"] = forms.CharField(required=False, widget=forms.HiddenInput)
    fields["rich_header_link"] = link("Header media link")
    _value_row_fields(fields, "rich_header_text", "Header variable")
    _value_row_fields(fields, "rich_coupon", "Coupon code")
    fields["rich_offer_expires_at"] = forms.CharField(
        required=False, label="Offer ends at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip
    for card in range(MAX_CARDS):
        fields[f"rich_card_{card}_link"] = link(f"Card {card + 1} media link")
        for index in range(MAX_CARD_PARAMETERS):
            _value_row_fields(fields, _card_param_prefix(card, index), f"Card {card + 1} value {index + 1}")


def rich_mode(data: Any) -> str:
    """``fields`` or ``json``: what the page last edited; without a say, the inputs when any is filled."""
    said = str(data.get("rich_source") or "")
    if said in ("fields", "json"):
        return said
    filled = any(str(data.get(name) or "").strip() for name in rich_field_names() if not name.endswith("_source"))
    return "fields" if filled else "json"


def _value_entry(get: Any, prefix: str) -> dict[str, str]:
    source = get(f"{prefix}_source") or "value"
    source = source if source in _VALUE_SOURCE_KEYS else "value"
    key = get(f"{prefix}_key") or ""
    if source == "value":
        return {"value": key}
    entry = {source: key.strip()}
    fallback = (get(f"{prefix}_fallback") or "").strip()
    if fallback:
        entry["fallback"] = fallback
    return entry


def _expiry_iso(raw: str) -> str:
    """A datetime-local value (the site's time zone) as the ISO time with offset the mapping keeps."""
    parsed = parse_datetime(raw.strip()) if raw.strip() else None
    if parsed is None:
        return raw.strip()
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed.isoformat()


def rich_more_from_fields(get: Any, layout: dict[str, Any]) -> dict[str, Any]:
    """The mapping's parts other than the body, from the structured inputs (``get`` reads one by name)."""
    more: dict[str, Any] = {}
    if layout["header_params"]:
        more["header"] = [_value_entry(get, "rich_header_text")]
    elif layout["header_media"]:
        more["header"] = {layout["header_media"]: {"link": (get("rich_header_link") or "").strip()}}
    if layout["coupon"]:
        more["coupon_code"] = _value_entry(get, "rich_coupon")
    if layout["offer"]:
        more["limited_time_offer"] = {"expires_at": _expiry_iso(get("rich_offer_expires_at") or "")}
    if layout["cards"]:
        cards = []
        for index, card in enumerate(layout["cards"]):
            entry: dict[str, Any] = {}
            if card["media"]:
                entry["header"] = {card["media"]: {"link": (get(f"rich_card_{index}_link") or "").strip()}}
            if card["params"]:
                entry["body"] = [_value_entry(get, _card_param_prefix(index, i)) for i in range(len(card["params"]))]
            cards.append(entry)
        more["cards"] = cards
    return more


def _value_row_from(entry: Any, prefix: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        return {}
    for source in ("value", "field", "attribute"):
        if isinstance(entry.get(source), str):
            row = {f"{prefix}_source": source, f"{prefix}_key": entry[source]}
            if isinstance(entry.get("fallback"), str):
                row[f"{prefix}_fallback"] = entry["fallback"]
            return row
    return {}


def _link_from(header: Any) -> str:
    if isinstance(header, dict) and len(header) == 1:
        (source,) = header.values()
        if isinstance(source, dict) and isinstance(source.get("link"), str):
            return source["link"]
    return ""


def _expiry_local(raw: Any) -> str:
    try:
        expires = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return ""
    if timezone.is_naive(expires):
        return expires.strftime(DATETIME_LOCAL)
    return timezone.localtime(expires).strftime(DATETIME_LOCAL)


def rich_fields_from_more(more: Any) -> dict[str, str]:
    """The structured inputs' values for a mapping's other parts (what the JSON box holds)."""
    if not isinstance(more, dict):
        return {}
    values: dict[str, str] = {}
    header = more.get("header")
    if isinstance(header, list) and header:
        values.update(_value_row_from(header[0], "rich_header_text"))
    elif header is not None:
        values["rich_header_link"] = _link_from(header)
    values.update(_value_row_from(more.get("coupon_code"), "rich_coupon"))
    offer = more.get("limited_time_offer")
    if isinstance(offer, dict) and "expires_at" in offer:
        values["rich_offer_expires_at"] = _expiry_local(offer["expires_at"])
    cards = more.get("cards")
    for index, card in enumerate(cards[:MAX_CARDS] if isinstance(cards, list) else []):
        if not isinstance(card, dict):
            continue
        values[f"rich_card_{index}_link"] = _link_from(card.get("header"))
        body = card.get("body")
        for i, entry in enumerate(body[:MAX_CARD_PARAMETERS] if isinstance(body, list) else []):
            values.update(_value_row_from(entry, _card_param_prefix(index, i)))
    return values


def media_link_problem(link: str, kind: str) -> str | None:
    """Why WhatsApp could not fetch ``link``, in words; None when it looks fetchable."""
    parsed = urlparse(link)
    accepts = MEDIA_ACCEPTS.get(kind, "the file")
    if parsed.scheme != "https" or not parsed.netloc:
        return f"Give a public link that starts with https:// (WhatsApp downloads {accepts} from it itself)."
    return None


_ERROR_PATH = re.compile(
    r"^parameters\.(?P<part>header|coupon_code|limited_time_offer|cards)"
    r"(?:\[(?P<card>\d+)\](?:\.(?P<card_part>header|body)(?:\[(?P<index>\d+)\])?)?)?[^:]*: (?P<words>.*)$"
)


def rich_error_field(message: str, layout: dict[str, Any]) -> str | None:
    """The structured input a mapping error is about (``parameters.cards[1].header...``), if any."""
    match = _ERROR_PATH.match(message)
    if match is None:
        return None
    part = match["part"]
    if part == "header":
        return "rich_header_text_key" if layout["header_params"] else "rich_header_link"
    if part == "coupon_code":
        return "rich_coupon_key"
    if part == "limited_time_offer":
        return "rich_offer_expires_at"
    if match["card"] is None:
        return None
    card = int(match["card"])
    if match["card_part"] == "header":
        return f"rich_card_{card}_link"
    if match["card_part"] == "body":
        return f"{_card_param_prefix(card, int(match['index'] or 0))}_key"
    return None


def rich_error_words(message: str, value: str) -> str:
    """A mapping error said for the input it is shown next to (no path into the JSON)."""
    if not value.strip():
        return "Fill this in: the template needs it."
    match = _ERROR_PATH.match(message)
    return match["words"] if match else message


def rich_data_synced(data: Any, layout: dict[str, Any]) -> Any:
    """The posted data with the JSON box and the structured inputs saying the same thing."""
    data = data.copy()
    mode = rich_mode(data)
    data["rich_source"] = mode
    if mode == "fields":
        if layout_has_parts(layout):
            more = rich_more_from_fields(lambda name: data.get(name, ""), layout)
            data["parameters_more"] = json.dumps(more, indent=1) if more else ""
        return data
    try:
        more = json.loads(data.get("parameters_more") or "null")
    except ValueError:
        return data
    for name, value in rich_fields_from_more(more).items():
        data[name] = value
    return data
