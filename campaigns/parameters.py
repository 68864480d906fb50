"""A campaign's parameter mapping: template body parameters filled from contacts, in SQL.

One entry per body parameter, in the template's order:

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
from typing import Any

from django.db.models import F, OuterRef, Subquery, TextField, Value
from django.db.models.expressions import Combinable
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, NullIf

from campaigns.models import Event
from campaigns.segments import SegmentRuleError, key_path_parse

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


def parameters_validate(mapping: Any, *, parameter_names: list[str]) -> None:
    """Raise ParameterMappingError unless ``mapping`` has one valid entry per template parameter."""
    if not isinstance(mapping, list):
        raise ParameterMappingError("parameters: expected a list with one entry per template parameter.")
    if len(mapping) != len(parameter_names):
        raise ParameterMappingError(
            f"parameters: the template has {len(parameter_names)} body parameter(s) "
            f"({', '.join('{{' + name + '}}' for name in parameter_names) or 'none'}), the mapping has {len(mapping)}."
        )
    for index, entry in enumerate(mapping):
        path = f"parameters[{index}]"
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


def _json_text(field: str, key_path: list[str]) -> Combinable:
    source: Any = field
    for key in key_path[:-1]:
        source = KeyTransform(key, source)
    return KeyTextTransform(key_path[-1], source)


def parameter_expressions(mapping: list[dict]) -> dict[str, Combinable]:
    """SQL expressions for the non-constant entries, keyed ``param_<index>``, to annotate on contacts."""
    expressions: dict[str, Combinable] = {}
    for index, entry in enumerate(mapping):
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


def parameter_values(mapping: list[dict], row: dict[str, Any]) -> list[str | None]:
    """The filled values for one annotated contact row (None where a value is missing)."""
    values: list[str | None] = []
    for index, entry in enumerate(mapping):
        if "value" in entry:
            values.append(entry["value"])
            continue
        raw = row.get(f"param_{index}")
        text = str(raw).strip() if raw is not None else ""
        values.append(text[:MAX_VALUE_LENGTH] or None)
    return values


def template_components(template: Any, values: Sequence[str | None], *, link_token: str | None) -> list[dict]:
    """The ``components`` of a template send: body parameters, and the tracked-link token if needed."""
    components: list[dict] = []
    if values:
        named = str(template.parameter_format).upper() == "NAMED"
        parameters = []
        for name, value in zip(template.parameter_names, values, strict=False):
            parameter = {"type": "text", "text": value}
            if named:
                parameter["parameter_name"] = name
            parameters.append(parameter)
        components.append({"type": "body", "parameters": parameters})
    if template.url_button_index is not None:
        components.append(
            {
                "type": "button",
                "sub_type": "url",
                "index": str(template.url_button_index),
                "parameters": [{"type": "text", "text": link_token or "-"}],
            }
        )
    return components


def template_render_body(template: Any, values: list[str | None]) -> str:
    """The body text as the recipient would read it (for previews and dry runs)."""
    by_name = dict(zip(template.parameter_names, values, strict=False))

    def fill(match: re.Match) -> str:
        value = by_name.get(match.group(1))
        return value if value is not None else f"[missing {match.group(1)}]"

    return _PLACEHOLDER_RE.sub(fill, template.body_text)
