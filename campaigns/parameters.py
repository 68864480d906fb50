"""A campaign's parameter mapping: template parameters filled from contacts, in SQL.

A template with body parameters only takes a list, one entry per body parameter, in order. Any other
template (a media or text header with a variable, a copy-code coupon, a limited-time offer, a carousel)
takes an object naming each part; ``template_slots`` lists what a template needs::

    {"header": {"image": {"link": "https://..."}},      # or {"image": {"attribute": "photo_url"}}
     "body": [{"field": "name", "fallback": "there"}, {"value": "20%"}],
     "coupon_code": {"attribute": "coupon"},
     "limited_time_offer": {"expires_at": "2026-12-24T23:00:00Z"},
     "cards": [{"header": {"image": {"link": "https://..."}}, "body": [{"value": "Trail runner"}]}, ...]}

A text header with a variable takes a list like the body's. Each value entry is one of:

- ``{"field": "name", "fallback": "there"}``: a contact field (name, language, country, time_zone)
- ``{"attribute": "first_name", "fallback": "friend"}``: a contact attribute (dots for nesting)
- ``{"event": "product_viewed", "property": "sku", "fallback": "..."}``: the property of the contact's
  latest event of that name that has the property
- ``{"value": "20%"}``: the same text for everyone

``fallback`` is optional; a recipient whose parameter is empty and has no fallback is skipped with the
reason ``missing_parameter``. The values are computed by the database for a whole batch at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from django.db.models import F, OuterRef, Subquery, TextField, Value
from django.db.models.expressions import Combinable
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, NullIf

from campaigns.models import Event
from campaigns.segments import SegmentRuleError, key_path_parse
from consent.keywords import STOP_PROMOTIONS_PAYLOAD, optout_button_match
from whatsapp import template_shape

CONTACT_FIELDS = ("name", "language", "country", "time_zone")
MAX_VALUE_LENGTH = 1024
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class ParameterMappingError(ValueError):
    """A mapping that does not fit the template; the message names the bad entry."""


def _text(entry: dict, key: str, path: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ParameterMappingError(f"{path}.{key}: expected a non-empty text.")
    if len(value) > MAX_VALUE_LENGTH:
        raise ParameterMappingError(f"{path}.{key}: at most {MAX_VALUE_LENGTH} characters.")
    return value


def _entries_validate(mapping: Any, *, parameter_names: list[str], path: str = "parameters", part: str = "body") -> None:
    if not isinstance(mapping, list):
        raise ParameterMappingError(f"{path}: expected a list with one entry per {part} parameter.")
    if len(mapping) != len(parameter_names):
        raise ParameterMappingError(
            f"{path}: the template has {len(parameter_names)} {part} parameter(s) "
            f"({', '.join('{{' + name + '}}' for name in parameter_names) or 'none'}), the mapping has {len(mapping)}."
        )
    for index, entry in enumerate(mapping):
        _entry_validate(entry, f"{path}[{index}]")


def _entry_validate(entry: Any, path: str) -> None:
    if not isinstance(entry, dict):
        raise ParameterMappingError(f"{path}: expected an object such as {{\"field\": \"name\", \"fallback\": \"there\"}}.")
    sources = [key for key in ("field", "attribute", "event", "value") if key in entry]
    if len(sources) != 1:
        raise ParameterMappingError(f"{path}: use exactly one of field, attribute, event, value.")
    source = sources[0]
    allowed = {"field": {"field", "fallback"}, "attribute": {"attribute", "fallback"},
               "event": {"event", "property", "fallback"}, "value": {"value"}}[source]  # fmt: skip
    unknown = set(entry) - allowed
    if unknown:
        raise ParameterMappingError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}.")
    if "fallback" in entry:
        _text(entry, "fallback", path)
    if source == "value":
        _text(entry, "value", path)
    elif source == "field":
        if entry["field"] not in CONTACT_FIELDS:
            raise ParameterMappingError(f"{path}.field: unknown field {entry['field']!r}; use one of: {', '.join(CONTACT_FIELDS)}.")
    else:
        name_key = "attribute" if source == "attribute" else "property"
        if source == "event":
            _text(entry, "event", path)
        try:
            key_path_parse(entry.get(name_key), f"{path}.{name_key}")
        except SegmentRuleError as exc:
            raise ParameterMappingError(str(exc)) from None


MEDIA_KINDS = ("image", "video", "document")


@dataclass(frozen=True)
class Slot:
    """One value a send needs: ``key`` orders and names it (``header.media``, ``body.0``, ``card.1.body.0``)."""

    key: str
    label: str


def _card_slots(index: int, card: list[dict]) -> list[Slot]:
    slots: list[Slot] = []
    media = template_shape.header_format(card)
    if media.lower() in MEDIA_KINDS:
        slots.append(Slot(f"card.{index}.header.media", f"card {index + 1} {media.lower()}"))
    for position, name in enumerate(template_shape.body_parameter_names(card)):
        slots.append(Slot(f"card.{index}.body.{position}", f"card {index + 1} {{{{{name}}}}}"))
    return slots


def template_slots(components: list[dict], body_names: Sequence[str] | None = None) -> list[Slot]:
    """Every per-send value a template needs, in the order the mapping's values are kept.

    ``body_names`` overrides the body placeholders read from ``components`` (a MessageTemplate's
    ``parameter_names``, kept by the template sync).
    """
    slots = [Slot(f"header.{i}", f"header {{{{{name}}}}}") for i, name in enumerate(template_shape.header_parameter_names(components))]
    media = template_shape.header_format(components).lower()
    if media in MEDIA_KINDS:
        slots.append(Slot("header.media", f"header {media}"))
    names = template_shape.body_parameter_names(components) if body_names is None else body_names
    slots += [Slot(f"body.{i}", f"{{{{{name}}}}}") for i, name in enumerate(names)]
    if template_shape.copy_code_index(components) is not None:
        slots.append(Slot("coupon_code", "coupon code"))
    if (template_shape.limited_time_offer(components) or {}).get("has_expiration"):
        slots.append(Slot("limited_time_offer", "offer expiry"))
    for index, card in enumerate(template_shape.carousel_cards(components)):
        slots += _card_slots(index, card)
    return slots


def _is_object_form(components: list[dict]) -> bool:
    return any(not slot.key.startswith("body.") for slot in template_slots(components))


def _media_entry(source: Any, path: str, kind: str) -> dict:
    """A media header's source as a value entry: a fixed ``link`` or a contact ``attribute`` holding one."""
    if not isinstance(source, dict) or not ({"link", "attribute"} & set(source)):
        raise ParameterMappingError(f'{path}: expected {{"{kind}": {{"link": "https://..."}}}} or {{"{kind}": {{"attribute": "photo_url"}}}}.')
    if "link" in source:
        if set(source) != {"link"}:
            raise ParameterMappingError(f"{path}: a link takes no other key.")
        link = _text(source, "link", path)
        if urlparse(link).scheme != "https" or not urlparse(link).netloc:
            raise ParameterMappingError(f"{path}.link: WhatsApp fetches media from a public https:// address; got {link!r}.")
        return {"value": link}
    _entry_validate(source, path)
    return dict(source)


def _header_media(header: Any, path: str, kind: str) -> dict:
    if not isinstance(header, dict) or set(header) != {kind}:
        article = "an" if kind == "image" else "a"
        raise ParameterMappingError(f'{path}: the template\'s header is {article} {kind}; expected {{"{kind}": {{"link": "https://..."}}}}.')
    return _media_entry(header[kind], f"{path}.{kind}", kind)


def _expiry_ms(offer: Any, path: str) -> str:
    if not isinstance(offer, dict) or set(offer) != {"expires_at"}:
        raise ParameterMappingError(f'{path}: expected {{"expires_at": "2026-12-24T23:00:00Z"}} (when the offer ends).')
    try:
        expires = datetime.fromisoformat(str(offer["expires_at"]).replace("Z", "+00:00"))
    except ValueError:
        raise ParameterMappingError(f"{path}.expires_at: not a date and time such as 2026-12-24T23:00:00Z.") from None
    if expires.tzinfo is None:
        raise ParameterMappingError(f"{path}.expires_at: give a time zone, such as 2026-12-24T23:00:00+01:00.")
    return str(int(expires.timestamp() * 1000))


def _media_source_entry(header: Any) -> dict | None:
    if not isinstance(header, dict) or len(header) != 1:
        return None
    (source,) = header.values()
    if not isinstance(source, dict):
        return None
    return {"value": source["link"]} if "link" in source else source


def _entry_list(entries: Any, prefix: str) -> list[tuple[str, dict]]:
    return [(f"{prefix}.{i}", entry) for i, entry in enumerate(entries)] if isinstance(entries, list) else []


def mapping_entries(mapping: Any) -> list[tuple[str, dict]]:
    """The mapping's value entries keyed like ``template_slots``; parameters_validate says what is wrong with it."""
    if isinstance(mapping, list):
        return _entry_list(mapping, "body")
    if not isinstance(mapping, dict):
        return []
    header = mapping.get("header")
    entries = _entry_list(header, "header")
    media = _media_source_entry(header)
    if media is not None:
        entries.append(("header.media", media))
    entries += _entry_list(mapping.get("body"), "body")
    if isinstance(mapping.get("coupon_code"), dict):
        entries.append(("coupon_code", mapping["coupon_code"]))
    if "limited_time_offer" in mapping:
        try:
            entries.append(("limited_time_offer", {"value": _expiry_ms(mapping["limited_time_offer"], "limited_time_offer")}))
        except ParameterMappingError:
            entries.append(("limited_time_offer", {"value": ""}))  # shown as missing until the expiry is fixed
    cards = mapping.get("cards")
    for index, card in enumerate(cards if isinstance(cards, list) else []):
        if not isinstance(card, dict):
            continue
        card_media = _media_source_entry(card.get("header"))
        if card_media is not None:
            entries.append((f"card.{index}.header.media", card_media))
        entries += _entry_list(card.get("body"), f"card.{index}.body")
    return entries


def _cards_validate(cards: Any, template_cards: list[list[dict]]) -> None:
    # Meta sends exactly the cards the template was approved with (2-10), each with its media header:
    # https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates/media-card-carousel-templates
    if not isinstance(cards, list) or len(cards) != len(template_cards):
        raise ParameterMappingError(f"parameters.cards: the carousel has {len(template_cards)} cards; give one entry per card, in order.")
    for index, (card, components) in enumerate(zip(cards, template_cards, strict=True)):
        path = f"parameters.cards[{index}]"
        if not isinstance(card, dict) or set(card) - {"header", "body"}:
            raise ParameterMappingError(f'{path}: expected {{"header": {{"image": {{"link": "https://..."}}}}, "body": [...]}}.')
        media = template_shape.header_format(components).lower()
        if media in MEDIA_KINDS:
            _header_media(card.get("header"), f"{path}.header", media)
        names = template_shape.body_parameter_names(components)
        if names or "body" in card:
            _entries_validate(card.get("body"), parameter_names=names, path=f"{path}.body", part="card body")


def parameters_validate(mapping: Any, *, parameter_names: list[str], components: list[dict] | None = None) -> None:
    """Raise ParameterMappingError unless ``mapping`` gives a valid value for every template parameter.

    ``components`` (the template's, as Meta lists them) is needed for anything beyond body parameters.
    """
    components = components or []
    if not _is_object_form(components):
        if isinstance(mapping, dict) and set(mapping) <= {"body"}:
            mapping = mapping.get("body") or []
        _entries_validate(mapping, parameter_names=parameter_names)
        return
    if not isinstance(mapping, dict):
        needs = ", ".join(slot.label for slot in template_slots(components) if not slot.key.startswith("body."))
        raise ParameterMappingError(
            f'parameters: this template also needs {needs}; give an object such as {{"header": ..., "body": [...]}}.'
        )
    allowed = {"header", "body", "coupon_code", "limited_time_offer", "cards"}
    unknown = set(mapping) - allowed
    if unknown:
        raise ParameterMappingError(f"parameters: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}.")
    header_names = template_shape.header_parameter_names(components)
    media = template_shape.header_format(components).lower()
    if header_names:
        _entries_validate(mapping.get("header"), parameter_names=header_names, path="parameters.header", part="header")
    elif media in MEDIA_KINDS:
        _header_media(mapping.get("header"), "parameters.header", media)
    elif "header" in mapping:
        raise ParameterMappingError("parameters.header: the template's header takes no parameter.")
    _entries_validate(mapping.get("body", []), parameter_names=parameter_names, path="parameters.body")
    for key, present in (
        ("coupon_code", template_shape.copy_code_index(components) is not None),
        ("limited_time_offer", bool((template_shape.limited_time_offer(components) or {}).get("has_expiration"))),
        ("cards", bool(template_shape.carousel_cards(components))),
    ):
        if present and key not in mapping:
            raise ParameterMappingError(f"parameters.{key}: the template needs it.")
        if not present and key in mapping:
            raise ParameterMappingError(f"parameters.{key}: the template has none.")
    if "coupon_code" in mapping:
        _entry_validate(mapping["coupon_code"], "parameters.coupon_code")
    if "limited_time_offer" in mapping:
        _expiry_ms(mapping["limited_time_offer"], "parameters.limited_time_offer")
    if "cards" in mapping:
        _cards_validate(mapping["cards"], template_shape.carousel_cards(components))


def _json_text(field: str, key_path: list[str]) -> Combinable:
    source: Any = field
    for key in key_path[:-1]:
        source = KeyTransform(key, source)
    return KeyTextTransform(key_path[-1], source)


def parameter_expressions(mapping: Any) -> dict[str, Combinable]:
    """SQL expressions for the non-constant entries, keyed ``param_<index>``, to annotate on contacts."""
    expressions: dict[str, Combinable] = {}
    for index, (_key, entry) in enumerate(mapping_entries(mapping)):
        if "value" in entry:
            continue
        if "field" in entry:
            expression: Combinable = F(entry["field"])
        elif "attribute" in entry:
            expression = _json_text("attributes", entry["attribute"].split("."))
        else:
            key_path = entry["property"].split(".")
            has_key = "__".join(["properties", *key_path[:-1], "has_key"])
            latest = (
                Event.objects.filter(contact_id=OuterRef("pk"), name=entry["event"], **{has_key: key_path[-1]})
                .order_by("-occurred_at", "-pk")
                .values_list(_json_text("properties", key_path))[:1]
            )
            expression = Subquery(latest, output_field=TextField())
        expression = NullIf(expression, Value(""), output_field=TextField())
        if "fallback" in entry:
            expression = Coalesce(expression, Value(entry["fallback"]), output_field=TextField())
        expressions[f"param_{index}"] = expression
    return expressions


def parameter_fields(mapping: Any) -> list[str]:
    """The annotation names of the mapping's per-person values (what parameter_values reads from a row)."""
    return [f"param_{i}" for i, (_key, entry) in enumerate(mapping_entries(mapping)) if "value" not in entry]


def template_has_tracked_link(template: Any) -> bool:
    """True when a URL button (of the message or of a carousel card) takes our tracked-link token."""
    if template.url_button_index is not None:
        return True
    return any(template_shape.dynamic_url_button(card) for card in template_shape.carousel_cards(list(template.components or [])))


def parameter_values(mapping: Any, row: dict[str, Any]) -> list[str | None]:
    """The filled values for one annotated contact row (None where a value is missing), in slot order."""
    values: list[str | None] = []
    for index, (_key, entry) in enumerate(mapping_entries(mapping)):
        if "value" in entry:
            constant = entry["value"]
            values.append(constant if isinstance(constant, str) and constant else None)
            continue
        raw = row.get(f"param_{index}")
        text = str(raw).strip() if raw is not None else ""
        values.append(text[:MAX_VALUE_LENGTH] or None)
    return values




def template_values(template: Any, values: Sequence[str | None]) -> dict[str, str | None]:
    """The mapping's values by slot key (``header.media``, ``body.0``...), for building and previewing a send."""
    slots = template_slots(list(template.components or []), list(template.parameter_names))
    return {slot.key: value for slot, value in zip(slots, values, strict=False)}


def _text_parameters(names: Sequence[str], values: Sequence[str | None], *, named: bool) -> list[dict]:
    # Named templates send "parameter_name" beside each text, in the header as in the body (Meta's
    # "Named parameters" note on sending templates; pywa's BodyText.params / HeaderText.params).
    parameters = []
    for name, value in zip(names, values, strict=False):
        parameter: dict[str, str | None] = {"type": "text", "text": value}
        if named:
            parameter["parameter_name"] = name
        parameters.append(parameter)
    return parameters


def _media_parameter(kind: str, link: str | None) -> dict:
    # {"type": "image", "image": {"link": ...}}: Meta's "Send template messages" header parameters
    # (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates).
    return {"type": kind, kind: {"link": link}}


def quick_reply_payload(button_text: str) -> str:
    """Our payload for a quick reply: the opt-out button gets one that inbound handling always recognises."""
    return STOP_PROMOTIONS_PAYLOAD if optout_button_match(button_text) else button_text


def _button_components(
    buttons: list[dict], *, url_index: int | None, link_token: str | None, coupon_code: str | None
) -> list[dict]:
    # Button parameters per Meta's send reference: url -> text suffix, quick_reply -> payload,
    # copy_code -> coupon_code (limited-time offer page:
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/marketing-templates/limited-time-offer-templates/
    # and pywa tests/data/templates/limited_time_offer).
    components: list[dict] = []
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper()
        parameter: dict[str, str | None]
        if index == url_index:
            sub_type, parameter = "url", {"type": "text", "text": link_token or "-"}
        elif kind == "QUICK_REPLY":
            sub_type, parameter = "quick_reply", {"type": "payload", "payload": quick_reply_payload(str(button.get("text", "")))}
        elif kind == "COPY_CODE":
            sub_type, parameter = "copy_code", {"type": "coupon_code", "coupon_code": coupon_code}
        else:
            continue
        components.append({"type": "button", "sub_type": sub_type, "index": str(index), "parameters": [parameter]})
    if url_index is not None and url_index >= len(buttons):  # a template row synced before its buttons were kept
        components.append({"type": "button", "sub_type": "url", "index": str(url_index), "parameters": [{"type": "text", "text": link_token or "-"}]})
    return components


def _card_component(index: int, card: list[dict], by_slot: dict[str, str | None], *, link_token: str | None, named: bool) -> dict:
    # A carousel card: {"card_index": i, "components": [header, body, buttons]} as Meta's "Sending Media
    # Card Carousel Templates" shows (developers.facebook.com/docs/whatsapp/cloud-api/guides/
    # send-message-templates/media-card-carousel-templates).
    components: list[dict] = []
    media = template_shape.header_format(card).lower()
    if media in MEDIA_KINDS:
        components.append({"type": "header", "parameters": [_media_parameter(media, by_slot.get(f"card.{index}.header.media"))]})
    names = template_shape.body_parameter_names(card)
    if names:
        values = [by_slot.get(f"card.{index}.body.{i}") for i in range(len(names))]
        components.append({"type": "body", "parameters": _text_parameters(names, values, named=named)})
    url_button = template_shape.dynamic_url_button(card)
    components += _button_components(
        template_shape.buttons(card), url_index=url_button.index if url_button else None, link_token=link_token, coupon_code=None
    )
    return {"card_index": index, "components": components}


def template_components(template: Any, values: Sequence[str | None], *, link_token: str | None) -> list[dict]:
    """The ``components`` of a template send, in Meta's order: header, body, offer, buttons, carousel.

    ``values`` are the mapping's values in ``template_slots`` order (parameter_values).
    """
    shape = list(template.components or [])
    by_slot = template_values(template, values)
    named = str(template.parameter_format).upper() == "NAMED"
    components: list[dict] = []
    header_names = template_shape.header_parameter_names(shape)
    media = template_shape.header_format(shape).lower()
    if header_names:
        header_values = [by_slot.get(f"header.{i}") for i in range(len(header_names))]
        components.append({"type": "header", "parameters": _text_parameters(header_names, header_values, named=named)})
    elif media in MEDIA_KINDS:
        components.append({"type": "header", "parameters": [_media_parameter(media, by_slot.get("header.media"))]})
    body_names = list(template.parameter_names)
    if body_names:
        body_values = [by_slot.get(f"body.{i}") for i in range(len(body_names))]
        components.append({"type": "body", "parameters": _text_parameters(body_names, body_values, named=named)})
    if "limited_time_offer" in by_slot:
        expiry = by_slot["limited_time_offer"]
        components.append({
            "type": "limited_time_offer",
            "parameters": [{"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": int(expiry) if expiry else None}}],
        })  # fmt: skip
    components += _button_components(
        template_shape.buttons(shape), url_index=template.url_button_index, link_token=link_token, coupon_code=by_slot.get("coupon_code")
    )
    cards = template_shape.carousel_cards(shape)
    if cards:
        card_components = [_card_component(i, card, by_slot, link_token=link_token, named=named) for i, card in enumerate(cards)]
        components.append({"type": "carousel", "cards": card_components})
    return components


def template_fill(text: str, names: Sequence[str], values: Sequence[str | None]) -> str:
    """``text`` with its placeholders filled, a missing value shown as ``[missing name]``."""
    by_name = dict(zip(names, values, strict=False))

    def fill(match: re.Match) -> str:
        value = by_name.get(match.group(1))
        return value if value is not None else f"[missing {match.group(1)}]"

    return _PLACEHOLDER_RE.sub(fill, text)


def template_render_body(template: Any, values: Sequence[str | None]) -> str:
    """The body text as the recipient would read it (for previews and dry runs)."""
    by_slot = template_values(template, values)
    names = list(template.parameter_names)
    return template_fill(template.body_text, names, [by_slot.get(f"body.{i}") for i in range(len(names))])


def _slot_entry_problem(key: str, entry: Any) -> str | None:
    """Why ``entry`` cannot fill slot ``key`` yet, in words (no path into the JSON); None when it can."""
    sources = [entry.get(name) for name in ("field", "attribute", "event", "value")] if isinstance(entry, dict) else []
    if entry is None or (sources and not any(isinstance(text, str) and text.strip() for text in sources)):
        return "no value chosen yet"
    if key == "limited_time_offer" or (key.endswith("header.media") and isinstance(entry, dict) and set(entry) == {"value"}):
        text = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not text:
            return "no value chosen yet" if key == "limited_time_offer" else "no https:// link yet"
        if key.endswith("header.media") and (urlparse(text).scheme != "https" or not urlparse(text).netloc):
            return "WhatsApp fetches media from a public https:// address"
        return None
    try:
        _entry_validate(entry, "value")
    except ParameterMappingError as exc:
        # "value.field: unknown field ..." -> "unknown field ..."; "value: use exactly one..." -> "use exactly one..."
        return re.sub(r"^value(\.\w+)?: ", "", str(exc)).rstrip(".")
    return None


def mapping_for_preview(mapping: Any, template: Any, *, with_contact: bool) -> tuple[list[dict], list[str]]:
    """A mapping the preview can always render, one entry per slot of ``template`` in slot order,
    and what is still to fill, in words.

    An entry that cannot be used yet shows its placeholder as written (``{{2}}``) or, for a media
    link or offer expiry, as missing; without a contact to read values from, an entry's fallback
    stands in for the person's value. So an unfinished mapping never turns into an error.
    """
    given = dict(mapping_entries(mapping))
    entries: list[dict] = []
    problems: list[str] = []
    for slot in template_slots(list(template.components or []), list(template.parameter_names)):
        entry = given.get(slot.key)
        problem = _slot_entry_problem(slot.key, entry)
        placeholder = _PLACEHOLDER_RE.search(slot.label)
        as_written = placeholder.group(0) if placeholder else ""
        if problem is not None or not isinstance(entry, dict):
            problems.append(f"{slot.label}: {problem or 'no value chosen yet'}")
            entries.append({"value": as_written})
        elif not with_contact and "value" not in entry:
            entries.append({"value": entry.get("fallback") or as_written})
        else:
            entries.append(dict(entry))
    return entries, problems
