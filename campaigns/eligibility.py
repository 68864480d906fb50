"""Who may receive a campaign's message right now, and why not: one SQL query for many contacts.

The dry run (whole audience, counted by reason) and the send-time check (one batch, under the
per-contact locks) use the same query, so what the dry run predicts is what the send does.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.db import connections, router
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from campaigns.caps import CAP_COUNTED_Q, CapLimits, cap_windows, in_quiet_hours
from campaigns.models import Campaign, Message
from campaigns.parameters import parameter_expressions
from consent.models import ConsentState, ConsentStatus, Contact, Purpose
from consent.selectors import suppressed_q

if TYPE_CHECKING:  # django-stubs' helper, needed for type checking only
    from django_stubs_ext import WithAnnotations


class VerdictAnnotation(TypedDict):
    verdict: str  # ELIGIBLE or the reason

ELIGIBLE = "eligible"
INVALID_NUMBER = "invalid_number"
OPTED_OUT = "opted_out"
SUPPRESSED = "suppressed"
NO_CONSENT = "no_consent"
MISSING_PARAMETER = "missing_parameter"
FREQUENCY_CAP = "frequency_cap"
QUIET_HOURS = "quiet_hours_deferral"
# Meta does not deliver marketing templates to US numbers (+1 with a US area code) since 1 April 2025
# (https://www.twilio.com/docs/api/errors/63049, https://help.zoho.com/portal/en/kb/marketing-automation-2-0/faqs/marketing-campaigns/whatsapp/articles/what-is-the-pause-on-whatsapp-marketing-messages-for-us-numbers).
US_MARKETING_BLOCKED = "us_marketing_blocked"
# Set by the sender, not by this query: today's messaging limit is used up (waits for the next day),
# and a held-back message whose one retry came too late.
MESSAGING_LIMIT = "messaging_limit"
HELD_BACK_TOO_LATE = "held_back"

# Final reasons: the message is skipped. Deferrals wait until sending is allowed.
SKIP_REASONS = (INVALID_NUMBER, OPTED_OUT, SUPPRESSED, NO_CONSENT, US_MARKETING_BLOCKED, MISSING_PARAMETER)
DEFER_REASONS = (FREQUENCY_CAP, QUIET_HOURS)
EXCLUSION_REASONS = SKIP_REASONS + DEFER_REASONS

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


def _per_zone(zones: list[str], values: dict[str, Any], output_field: Any) -> Case:
    """A value chosen by the contact's time zone; ``values[""]`` for any zone not listed."""
    return Case(
        *[When(time_zone=name, then=Value(values[name])) for name in zones],
        default=Value(values[""]),
        output_field=output_field,
    )


def _dispatched_since(ref: str) -> Coalesce:
    """How many marketing messages this contact was dispatched since the outer annotation ``ref``."""
    counted = (
        Message.objects.filter(CAP_COUNTED_Q, contact_id=OuterRef("pk"), is_marketing=True, dispatched_at__gte=OuterRef(ref))
        .order_by()
        .values("contact_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


@dataclass(frozen=True)
class _Shape:
    """Everything the query's SQL depends on apart from the contacts: equal shapes give the same SQL."""

    marketing: bool
    parameters: str  # the campaign's mapping as JSON, key order kept (it names the param_<i> columns)
    limits: CapLimits
    zones: tuple[str, ...]
    windows: tuple[tuple[str, datetime, datetime], ...]  # per zone, and "" for any other
    quiet_zones: tuple[str, ...]


def _shape(campaign: Campaign, limits: CapLimits, now: datetime, zones: Sequence[str]) -> _Shape:
    names = sorted(set(zones)) or ["UTC"]
    windows = [(name, *cap_windows(name, now)) for name in names]
    return _Shape(
        # The template's category as stored now (a template_category_update changes it mid-campaign).
        marketing=campaign.is_marketing,
        parameters=json.dumps(campaign.parameters or []),
        limits=limits,
        zones=tuple(names),
        windows=(*windows, ("", *cap_windows("UTC", now))),
        quiet_zones=tuple(name for name in names if in_quiet_hours(name, now, limits)),
    )


def eligibility_annotate(
    contacts: QuerySet[Contact], *, campaign: Campaign, limits: CapLimits, now: datetime, zones: list[str]
) -> QuerySet[WithAnnotations[Contact, VerdictAnnotation]]:
    """``contacts`` with ``verdict`` (ELIGIBLE or a reason), the consent event relied on, the cap counts
    and the parameter values (``param_<i>``). ``zones`` lists the time zones of these contacts.

    Whether marketing consent is needed follows the campaign's template category as stored now
    (a ``template_category_update`` changes it mid-campaign), never what it was at approval.
    """
    return _annotate(contacts, _shape(campaign, limits, now, zones))


def _annotate(contacts: QuerySet[Contact], shape: _Shape) -> QuerySet[WithAnnotations[Contact, VerdictAnnotation]]:
    """The query of ``shape`` alone (nothing else of the campaign), so equal shapes compile alike."""
    marketing, limits, zones, quiet_zones = shape.marketing, shape.limits, list(shape.zones), list(shape.quiet_zones)
    states = ConsentState.objects.filter(contact_id=OuterRef("pk"), purpose__code=Purpose.MARKETING)
    windows = {name: (day, week) for name, day, week in shape.windows}
    expressions = parameter_expressions(json.loads(shape.parameters))

    contacts = contacts.annotate(
        consent_status=Coalesce(Subquery(states.values("status")[:1]), Value(ConsentStatus.NONE)),
        consent_event_id=Subquery(states.values("last_event_id")[:1]),
        is_suppressed=suppressed_q(),
        day_start=_per_zone(zones, {k: v[0] for k, v in windows.items()}, DateTimeField()),
        week_start=_per_zone(zones, {k: v[1] for k, v in windows.items()}, DateTimeField()),
        **expressions,
    ).annotate(day_count=_dispatched_since("day_start"), week_count=_dispatched_since("week_start"))

    # Reachable by a valid number, or without one by a business-scoped user id (sent as ``recipient``).
    unreachable = Q(phone__isnull=True, bsuid__isnull=True) | (Q(phone__isnull=False) & ~Q(phone__regex=E164_PATTERN))
    rules: list[When] = [When(unreachable | Q(erased_at__isnull=False), then=Value(INVALID_NUMBER))]
    if marketing:
        rules.append(When(consent_status=ConsentStatus.OPTED_OUT, then=Value(OPTED_OUT)))
    rules.append(When(is_suppressed=True, then=Value(SUPPRESSED)))
    if marketing:
        rules.append(When(~Q(consent_status=ConsentStatus.OPTED_IN), then=Value(NO_CONSENT)))
        rules.append(When(country="US", then=Value(US_MARKETING_BLOCKED)))
    if expressions:
        missing = Q()
        for name in expressions:
            missing |= Q(**{f"{name}__isnull": True})
        rules.append(When(missing, then=Value(MISSING_PARAMETER)))
    if marketing:
        rules.append(When(Q(day_count__gte=limits.max_per_day) | Q(week_count__gte=limits.max_per_week), then=Value(FREQUENCY_CAP)))
        if quiet_zones:
            rules.append(When(time_zone__in=quiet_zones, then=Value(QUIET_HOURS)))
    return contacts.annotate(verdict=Case(*rules, default=Value(ELIGIBLE), output_field=CharField()))


class _AnyOf(Lookup):
    """``column = ANY(%s::bigint[])``: the ids as one array parameter, so the SQL does not depend on them."""

    lookup_name = "any_of"
    prepare_rhs = False  # the list as given: the compiled parameters then hold this very object

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, self.rhs)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    ids_at: int  # the position of the contact ids in ``params``
    names: tuple[str, ...]  # the row's keys, as .values() names them
    # Django's converters by column (e.g. int() of the cap counts), applied to each row as .values() does.
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]


# Per process (a worker sends batch after batch of a few campaigns): compiled SQL by shape and
# database. None for a shape whose SQL could not be reused (the normal path is taken then).
_COMPILED: OrderedDict[tuple[Any, ...], _Compiled | None] = OrderedDict()
_COMPILED_MAX = 64
_COMPILED_LOCK = threading.Lock()


def _compile(queryset: QuerySet[Any], ids: list[int]) -> _Compiled | None:
    """The queryset's SQL with the position of ``ids`` among its parameters; None if it cannot be reused."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    positions = [i for i, param in enumerate(params) if param is ids]
    if len(positions) != 1:
        return None
    selected = [column for column, *_ in compiler.select[: compiler.col_count]]
    if compiler.has_composite_fields(selected):
        return None
    converters = compiler.get_converters(selected)
    query = queryset.query
    if query.selected:
        names = list(query.selected)
    else:  # as ValuesIterable names them
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
    if len(names) != len(selected):
        return None
    return _Compiled(
        sql=sql, params=tuple(params), ids_at=positions[0], names=tuple(names),
        converters=tuple((at, tuple(functions), expression) for at, (functions, expression) in converters.items()),
    )  # fmt: skip


def eligibility_rows(
    contact_ids: list[int],
    *,
    campaign: Campaign,
    limits: CapLimits,
    now: datetime,
    zones: list[str],
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """``eligibility_annotate(...).values(*fields)`` of these contacts, as a list of dicts.

    The send-time check runs this for every batch, and compiling the query's SQL was most of its
    cost: on PostgreSQL the SQL is compiled once per shape (campaign's marketing flag and parameters,
    limits, zones with their windows and quiet hours) and run again with only the ids changed.
    """
    shape = _shape(campaign, limits, now, zones)
    alias = router.db_for_read(Contact)
    connection = connections[alias]
    key = (alias, shape, tuple(fields))
    with _COMPILED_LOCK:
        known = key in _COMPILED
        compiled = _COMPILED.get(key)
        if known:
            _COMPILED.move_to_end(key)
    if connection.vendor == "postgresql" and not known:
        ids = list(contact_ids)  # a new object: found among the compiled parameters by identity
        compiled = _compile(_annotate(Contact.objects.using(alias).filter(_AnyOf(F("pk"), ids)), shape).values(*fields), ids)
        with _COMPILED_LOCK:
            _COMPILED[key] = compiled
            while len(_COMPILED) > _COMPILED_MAX:
                _COMPILED.popitem(last=False)
    if compiled is None:  # SQLite, or a shape whose SQL cannot be reused: the queryset as it is
        return list(_annotate(Contact.objects.using(alias).filter(pk__in=contact_ids), shape).values(*fields))
    params = list(compiled.params)
    params[compiled.ids_at] = list(contact_ids)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    result = []
    for fetched in rows:
        row = list(fetched)
        for at, functions, expression in compiled.converters:
            for convert in functions:
                row[at] = convert(row[at], expression, connection)
        result.append(dict(zip(compiled.names, row, strict=True)))
    return result
