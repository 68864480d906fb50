"""A/B variants and the hold-out control group of a campaign.

A campaign's ``variants`` is a list of up to four entries, labelled A, B, C, D in order. Each has a
``share`` (percent of the messaged part; the shares sum to 100) and may name its own ``template`` (with
``language``) and ``parameters``; what it leaves out is the campaign's own. ``control_percent`` of the
audience is the hold-out: materialised as skipped rows (reason ``control group``) that are never sent.

Who gets what is decided once, at materialisation, from a hash of (campaign id, contact id): the same
person always lands in the same group of a campaign, and a campaign launched again adds nobody twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from campaigns.models import Campaign
from campaigns.parameters import ParameterMappingError, parameters_validate
from whatsapp.models import MessageTemplate

CONTROL = "control"
CONTROL_SKIP_REASON = "control group"
LABELS = ("A", "B", "C", "D")
MAX_VARIANTS = len(LABELS)
MAX_CONTROL_PERCENT = 50
# A person's place in [0, BUCKETS): fine enough for shares given in whole percent of the messaged part.
BUCKETS = 10000
_VARIANT_KEYS = {"share", "template", "language", "parameters"}


class VariantError(ValueError):
    """A variant definition that cannot be sent; the message says which variant and why."""


@dataclass(frozen=True)
class Variant:
    label: str
    share: int
    template: MessageTemplate | None
    parameters: Any


def _template_find(entry: dict, label: str) -> MessageTemplate | None:
    name, language = entry.get("template"), entry.get("language")
    if name is None and language is None:
        return None
    if not isinstance(name, str) or not isinstance(language, str) or not name or not language:
        raise VariantError(f"variant {label}: give both template (its name) and language, e.g. \"spring_sale_b\" and \"en_US\".")
    template = MessageTemplate.objects.filter(name=name, language=language).first()
    if template is None:
        raise VariantError(f"variant {label}: no template {name!r} in language {language!r}; sync templates first.")
    return template


def variants_parse(raw: Any) -> list[Variant]:
    """The variants of a ``Campaign.variants`` value; raises VariantError naming the bad one."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raise VariantError('variants: expected a list such as [{"share": 50}, {"share": 50, "template": "...", "language": "..."}].')
    if len(raw) == 1 or len(raw) > MAX_VARIANTS:
        raise VariantError(f"variants: an A/B test has 2 to {MAX_VARIANTS} variants (leave the list empty for none).")
    variants = []
    for label, entry in zip(LABELS, raw, strict=False):
        if not isinstance(entry, dict):
            raise VariantError(f"variant {label}: expected an object with share, and optionally template, language and parameters.")
        unknown = set(entry) - _VARIANT_KEYS
        if unknown:
            raise VariantError(f"variant {label}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(_VARIANT_KEYS))}.")
        share = entry.get("share")
        if not isinstance(share, int) or isinstance(share, bool) or not 1 <= share <= 99:
            raise VariantError(f"variant {label}: share must be a whole percent from 1 to 99.")
        variants.append(Variant(label=label, share=share, template=_template_find(entry, label), parameters=entry.get("parameters")))
    if sum(variant.share for variant in variants) != 100:
        raise VariantError(f"variants: the shares add up to {sum(v.share for v in variants)}; they must add up to 100.")
    return variants


def variants_validate(campaign: Campaign) -> list[Variant]:
    """Check the campaign's variants and hold-out as the sender will use them; returns the variants."""
    if not 0 <= campaign.control_percent <= MAX_CONTROL_PERCENT:
        raise VariantError(f"control_percent: from 0 to {MAX_CONTROL_PERCENT} (percent of the audience held out).")
    variants = variants_parse(campaign.variants)
    for variant in variants:
        view = campaign_variant_view(campaign, variant)
        template = view.template
        if template is None:
            continue  # the campaign's own template is checked with the campaign
        if not template.is_sendable:
            raise VariantError(f"variant {variant.label}: template {template} is {template.get_status_display().lower()} at WhatsApp.")
        try:
            parameters_validate(view.parameters, parameter_names=list(template.parameter_names), components=template.components)
        except ParameterMappingError as exc:
            raise VariantError(f"variant {variant.label}: {exc}") from None
    return variants


def campaign_variant_view(campaign: Campaign, variant: Variant | None) -> Campaign:
    """The campaign as one variant sends it: an unsaved copy with that variant's template and parameters."""
    if variant is None or (variant.template is None and variant.parameters is None):
        return campaign
    view = copy.copy(campaign)
    if variant.template is not None:
        view.template = variant.template
    if variant.parameters is not None:
        view.parameters = variant.parameters
    return view


def campaign_views_by_label(campaign: Campaign) -> dict[str, Campaign]:
    """{variant label: the campaign as that variant sends it}; {"": campaign} without variants."""
    views = {variant.label: campaign_variant_view(campaign, variant) for variant in variants_parse(campaign.variants)}
    return views or {"": campaign}


def variant_descriptions(campaign: Campaign) -> list[str]:
    """One line per variant for the approver: its share, template and values (what differs from the campaign's)."""
    try:
        variants = variants_parse(campaign.variants)
    except VariantError as exc:
        return [str(exc)]
    lines = []
    for variant in variants:
        template = variant.template or campaign.template
        values = "the campaign's values" if variant.parameters is None else f"values {json.dumps(variant.parameters, ensure_ascii=False)}"
        lines.append(f"{variant.label}: {variant.share}% of those messaged, template {template or '—'}, {values}")
    return lines


def variant_snapshot(campaign: Campaign) -> list[Any]:
    """What an approver approves of the variants: shares, templates (with their content) and parameters."""
    snapshot: list[Any] = [campaign.control_percent]
    for variant in variants_parse(campaign.variants):
        template = variant.template
        snapshot.append([
            variant.label, variant.share, variant.parameters,
            [template.pk, template.name, template.language, template.category, template.components] if template else None,
        ])  # fmt: skip
    return snapshot


def bucket_thresholds(campaign: Campaign) -> list[tuple[int, str]]:
    """(upper bucket bound, group) in order: a person whose bucket is below a bound joins its group.

    The control group takes the first ``control_percent`` of the buckets; each variant then takes its
    share of the rest. Without variants the messaged part is one group labelled "".
    """
    control_top = campaign.control_percent * BUCKETS // 100
    bounds: list[tuple[int, str]] = [(control_top, CONTROL)] if control_top else []
    variants = variants_parse(campaign.variants)
    if not variants:
        return [*bounds, (BUCKETS, "")]
    cumulative = 0
    for variant in variants:
        cumulative += variant.share
        bounds.append((control_top + (BUCKETS - control_top) * cumulative // 100, variant.label))
    return bounds


def assignment_bucket(campaign_id: int, contact_id: int) -> int:
    """A person's bucket in the campaign, as ``ASSIGNMENT_BUCKET_SQL`` computes it in the database."""
    digest = hashlib.md5(f"{campaign_id}:{contact_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % BUCKETS


# The same as assignment_bucket, in PostgreSQL: the first 32 bits of md5("<campaign>:<contact>").
ASSIGNMENT_BUCKET_SQL = "mod(('x' || substr(md5(%s::text || ':' || {contact}::text), 1, 8))::bit(32)::bigint, " + str(BUCKETS) + ")"


def group_of(campaign: Campaign, contact_id: int) -> str:
    """The group (variant label, CONTROL, or "" without a test) of one person in the campaign."""
    bucket = assignment_bucket(campaign.pk, contact_id)
    for bound, group in bucket_thresholds(campaign):
        if bucket < bound:
            return group
    return ""


def group_case_sql(campaign: Campaign, contact_column: str) -> tuple[str, list[Any]]:
    """A SQL expression giving each row's group from ``contact_column``, with its parameters."""
    thresholds = bucket_thresholds(campaign)
    if thresholds == [(BUCKETS, "")]:  # no test, no hold-out: no hash to compute per row
        return "''", []
    whens = " ".join("WHEN placed.bucket < %s THEN %s" for _ in thresholds)
    bucket = ASSIGNMENT_BUCKET_SQL.format(contact=contact_column)
    # The bucket once per row (md5 is the costly part), then compared with each bound.
    sql = f"(SELECT CASE {whens} ELSE '' END FROM (SELECT {bucket} AS bucket) AS placed)"
    return sql, [*(value for bound, group in thresholds for value in (bound, group)), campaign.pk]
