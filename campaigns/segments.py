"""The segment rule language: a JSON tree compiled to one Django ``Q`` over contacts.

A rule is a group or a condition:

- groups: ``{"all": [rule, ...]}``, ``{"any": [rule, ...]}``, ``{"not": rule}``
- ``{"attribute": "city", "op": "eq", "value": "Berlin"}``: ops eq, ne, in, contains, gt, gte, lt, lte,
  exists. Nested attributes use dots (``"address.city"``). ``ne`` also matches contacts without the
  attribute; ``contains`` is a case-insensitive substring of the text value; ``exists`` takes an optional
  ``value`` (true by default, false for "has no such attribute").
- ``{"tag": "vip"}``, ``{"country": "DE"}`` (or a list), ``{"language": "de"}`` (``de`` also matches
  ``de_DE``; or a list)
- ``{"consent_age_days": {"lte": 365}}``: the active marketing opt-in is at most 365 days old
  (ops lt, lte, gt, gte; contacts without an active opt-in never match)
- ``{"last_inbound_within_days": 3}``: the person wrote to us in the last 3 days
- ``{"event": "product_viewed", "where": {"sku": "X"}, "within_days": 7, "min_count": 1}``: at least
  ``min_count`` such events (``where`` values are equal-to, or ``{"op": value}`` with the attribute ops)
  in the last ``within_days`` days (no limit when absent). "Did not buy" is ``{"not": {"event":
  "purchase", "within_days": 7}}``.
- ``{"campaign": 12, "outcome": "read"}``: outcomes sent, delivered, read, clicked, not_read (sent but
  not read), not_clicked (sent but its link not clicked), not_replied (sent, and the person has not
  written to us since). A follow-up campaign's audience is one such condition on its parent.

Compiling never touches the database, so a segment count is exactly one query; validation names the
bad part of the tree by its path (``rules.all[1].op``). A tree is bounded (SEGMENT_MAX_DEPTH,
SEGMENT_MAX_CONDITIONS, SEGMENT_MAX_LIST_ITEMS) and counts run under a statement timeout
(SEGMENT_QUERY_TIMEOUT_SECONDS), so no rule can tie up the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign, Click, Event, Message, MessageStatus
from consent.models import ConsentState, ConsentStatus, Contact, Purpose

ATTRIBUTE_OPS = ("eq", "ne", "in", "contains", "gt", "gte", "lt", "lte", "exists")
AGE_OPS = ("lt", "lte", "gt", "gte")
OUTCOMES = ("sent", "delivered", "read", "clicked", "not_read", "not_clicked", "not_replied")
# PostgreSQL's SQLSTATE for a statement stopped by statement_timeout (query_canceled).
_QUERY_CANCELED = "57014"

# Attribute and property names: letters, digits and single underscores, starting with a letter or _.
# Anything else could be read by the ORM as a lookup (e.g. "city__gt"), so it is refused.
_KEY_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CONDITION_KEYS = {
    "attribute": {"attribute", "op", "value"},
    "tag": {"tag"},
    "country": {"country"},
    "language": {"language"},
    "consent_age_days": {"consent_age_days"},
    "last_inbound_within_days": {"last_inbound_within_days"},
    "event": {"event", "where", "within_days", "min_count"},
    "campaign": {"campaign", "outcome"},
}
_GROUP_KEYS = ("all", "any", "not")


class SegmentRuleError(ValueError):
    """A rule tree that cannot be compiled; ``path`` names the bad part, ``limit`` the setting it exceeds."""

    def __init__(self, path: str, message: str, *, limit: str = "") -> None:
        self.path = path
        self.detail = message
        self.limit = limit
        super().__init__(f"{path}: {message}")


class SegmentQueryTimeout(RuntimeError):
    """Counting or sampling a segment ran past SEGMENT_QUERY_TIMEOUT_SECONDS and was stopped."""

    limit = "SEGMENT_QUERY_TIMEOUT_SECONDS"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Counting this segment took longer than {seconds:g} seconds (SEGMENT_QUERY_TIMEOUT_SECONDS) and was "
            "stopped. Use fewer or narrower conditions (shorter lists, fewer 'contains'), then try again."
        )


@contextmanager
def segment_query_time_limit() -> Iterator[None]:
    """Run the block's queries under SEGMENT_QUERY_TIMEOUT_SECONDS; past it, SegmentQueryTimeout.

    ``SET LOCAL`` inside a transaction: the limit ends with the block and never leaks to the next
    request on a pooled connection. Inside an outer transaction the previous value is put back.
    """
    seconds = settings.SEGMENT_QUERY_TIMEOUT_SECONDS
    if connection.vendor != "postgresql":
        yield
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('statement_timeout')")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{max(1, round(seconds * 1000))}ms"])
            yield
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as exc:
        cause = exc.__cause__
        if (getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)) == _QUERY_CANCELED:
            raise SegmentQueryTimeout(seconds) from None
        raise


# Rules saved before the SEGMENT_MAX_* limits existed may be bigger; they still run (under the
# statement timeout) up to the old bounds, which also keep the compiler's recursion shallow.
_SAVED_MAX_DEPTH = 12


class _Compiler:
    def __init__(self, now: datetime, *, bounded: bool) -> None:
        """``bounded``: hold the tree to the SEGMENT_MAX_* settings (new or changed rules)."""
        self.now = now
        self.conditions = 0
        self.campaign_ids: set[int] = set()
        self.max_depth = settings.SEGMENT_MAX_DEPTH if bounded else max(settings.SEGMENT_MAX_DEPTH, _SAVED_MAX_DEPTH)
        self.max_conditions = settings.SEGMENT_MAX_CONDITIONS if bounded else None
        self.max_list_items = settings.SEGMENT_MAX_LIST_ITEMS if bounded else None

    def count_condition(self, path: str) -> None:
        self.conditions += 1
        if self.max_conditions is not None and self.conditions > self.max_conditions:
            raise SegmentRuleError(
                path, f"a segment may have at most {self.max_conditions} conditions (SEGMENT_MAX_CONDITIONS).",
                limit="SEGMENT_MAX_CONDITIONS",
            )  # fmt: skip

    def compile(self, node: Any, path: str, depth: int = 0) -> Q:
        if depth > self.max_depth:
            raise SegmentRuleError(
                path, f"rules are nested more than {self.max_depth} levels deep (SEGMENT_MAX_DEPTH).", limit="SEGMENT_MAX_DEPTH"
            )
        if not isinstance(node, dict) or not node:
            raise SegmentRuleError(path, 'expected an object such as {"all": [...]} or {"tag": "vip"}.')
        groups = [key for key in _GROUP_KEYS if key in node]
        if groups:
            if len(node) != 1:
                raise SegmentRuleError(path, f"a group has exactly one key ({groups[0]!r}); found {sorted(node)}.")
            return self._group(groups[0], node[groups[0]], path, depth)
        kinds = [kind for kind in _CONDITION_KEYS if kind in node]
        if len(kinds) != 1:
            known = ", ".join([*_GROUP_KEYS, *_CONDITION_KEYS])
            found = ", ".join(sorted(map(str, node)))
            raise SegmentRuleError(path, f"cannot tell what this rule is (keys: {found}); use exactly one of: {known}.")
        kind = kinds[0]
        unknown = set(node) - _CONDITION_KEYS[kind]
        if unknown:
            raise SegmentRuleError(
                path, f"unknown key(s) {', '.join(sorted(unknown))} in a {kind} rule; allowed: {', '.join(sorted(_CONDITION_KEYS[kind]))}."
            )
        self.count_condition(path)
        return getattr(self, f"_{kind}")(node, path)

    def _group(self, key: str, value: Any, path: str, depth: int) -> Q:
        sub = f"{path}.{key}"
        if key == "not":
            return ~self.compile(value, sub, depth + 1)
        if not isinstance(value, list):
            raise SegmentRuleError(sub, f'"{key}" takes a list of rules.')
        if key == "any" and not value:
            raise SegmentRuleError(sub, '"any" needs at least one rule.')
        parts = [self.compile(child, f"{sub}[{index}]", depth + 1) for index, child in enumerate(value)]
        if key == "all":
            combined = Q()  # an empty "all" matches everyone
            for part in parts:
                combined &= part
            return combined
        combined = parts[0]
        for part in parts[1:]:
            combined |= part
        return combined

    # --- conditions -------------------------------------------------------------------------

    def _attribute(self, node: dict, path: str) -> Q:
        key_path = key_path_parse(node["attribute"], f"{path}.attribute")
        op = node.get("op", "eq" if "value" in node else None)
        if op not in ATTRIBUTE_OPS:
            raise SegmentRuleError(f"{path}.op", f"unknown op {op!r}; use one of: {', '.join(ATTRIBUTE_OPS)}.")
        return json_key_condition(
            "attributes", key_path, op, node.get("value", _MISSING), f"{path}.value", max_list_items=self.max_list_items
        )

    def _tag(self, node: dict, path: str) -> Q:
        tag = node["tag"]
        if not isinstance(tag, str) or not tag.strip():
            raise SegmentRuleError(f"{path}.tag", "expected a tag name.")
        through = Contact.tags.through
        return Q(Exists(through.objects.filter(contact_id=OuterRef("pk"), tag__name=tag.strip().lower())))

    def _country(self, node: dict, path: str) -> Q:
        codes = _string_or_list(node["country"], f"{path}.country", max_items=self.max_list_items)
        for code in codes:
            if len(code) != 2 or not code.isalpha():
                raise SegmentRuleError(f"{path}.country", f"expected two-letter country codes like DE, got {code!r}.")
        return Q(country__in=[code.upper() for code in codes])

    def _language(self, node: dict, path: str) -> Q:
        combined = Q()
        for code in _string_or_list(node["language"], f"{path}.language", max_items=self.max_list_items):
            combined |= Q(language__iexact=code) | Q(language__istartswith=f"{code}_") | Q(language__istartswith=f"{code}-")
        return combined

    def _consent_age_days(self, node: dict, path: str) -> Q:
        spec = node["consent_age_days"]
        sub = f"{path}.consent_age_days"
        if not isinstance(spec, dict) or not spec:
            raise SegmentRuleError(sub, 'expected ops like {"lte": 365}.')
        states = ConsentState.objects.filter(
            contact_id=OuterRef("pk"), purpose__code=Purpose.MARKETING, status=ConsentStatus.OPTED_IN
        )
        # "age <= N days" means "since >= now - N days": the comparison flips.
        flipped = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}
        for op, days in spec.items():
            if op not in AGE_OPS:
                raise SegmentRuleError(f"{sub}.{op}", f"unknown op; use one of: {', '.join(AGE_OPS)}.")
            states = states.filter(**{f"since__{flipped[op]}": self.now - timedelta(days=_days(days, f"{sub}.{op}"))})
        return Q(Exists(states))

    def _last_inbound_within_days(self, node: dict, path: str) -> Q:
        days = _days(node["last_inbound_within_days"], f"{path}.last_inbound_within_days")
        return Q(last_inbound_at__gte=self.now - timedelta(days=days))

    def _event(self, node: dict, path: str) -> Q:
        name = node["event"]
        if not isinstance(name, str) or not name.strip():
            raise SegmentRuleError(f"{path}.event", "expected an event name.")
        events = Event.objects.filter(contact_id=OuterRef("pk"), name=name)
        where = node.get("where", {})
        if not isinstance(where, dict):
            raise SegmentRuleError(f"{path}.where", 'expected an object of property conditions, e.g. {"sku": "X"}.')
        for prop, condition in where.items():
            sub = f"{path}.where.{prop}"
            self.count_condition(sub)
            key_path = key_path_parse(prop, sub)
            if isinstance(condition, dict):
                if len(condition) != 1:
                    raise SegmentRuleError(sub, 'expected a value or one op, e.g. {"gte": 10}.')
                op, value = next(iter(condition.items()))
                if op not in ATTRIBUTE_OPS:
                    raise SegmentRuleError(f"{sub}.{op}", f"unknown op; use one of: {', '.join(ATTRIBUTE_OPS)}.")
                events = events.filter(
                    json_key_condition("properties", key_path, op, value, f"{sub}.{op}", max_list_items=self.max_list_items)
                )
            else:
                events = events.filter(json_key_condition("properties", key_path, "eq", condition, sub))
        if "within_days" in node:
            events = events.filter(occurred_at__gte=self.now - timedelta(days=_days(node["within_days"], f"{path}.within_days")))
        min_count = node.get("min_count", 1)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise SegmentRuleError(f"{path}.min_count", 'expected a whole number of at least 1 (for "none", wrap the rule in "not").')
        if min_count > 1:
            return Q(Exists(events.order_by().values("contact_id").annotate(n=Count("pk")).filter(n__gte=min_count)))
        return Q(Exists(events))

    def _campaign(self, node: dict, path: str) -> Q:
        campaign_id = node["campaign"]
        if isinstance(campaign_id, bool) or not isinstance(campaign_id, int) or campaign_id < 1:
            raise SegmentRuleError(f"{path}.campaign", "expected a campaign id (a whole number).")
        outcome = node.get("outcome")
        if outcome not in OUTCOMES:
            raise SegmentRuleError(f"{path}.outcome", f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}.")
        self.campaign_ids.add(campaign_id)
        messages = Message.objects.filter(campaign_id=campaign_id, contact_id=OuterRef("pk"))
        # Messages that left: never skipped, failed or unresolved (UNKNOWN) ones.
        left = [MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ]
        clicked = Exists(Click.objects.filter(message_id=OuterRef("pk")))
        if outcome == "sent":
            messages = messages.filter(status__in=left)
        elif outcome == "delivered":
            messages = messages.filter(Q(status__in=[MessageStatus.DELIVERED, MessageStatus.READ]) | Q(delivered_at__isnull=False))
        elif outcome == "read":
            messages = messages.filter(Q(status=MessageStatus.READ) | Q(read_at__isnull=False))
        elif outcome == "not_read":
            messages = messages.filter(status__in=left, read_at__isnull=True).exclude(status=MessageStatus.READ)
        elif outcome == "not_clicked":
            messages = messages.filter(~Q(clicked), status__in=left)
        elif outcome == "not_replied":
            # Anything the person wrote after the message was sent counts as a reply.
            messages = messages.filter(status__in=left).exclude(contact__last_inbound_at__gte=F("dispatched_at"))
        else:
            messages = messages.filter(clicked)
        return Q(Exists(messages))


class _Missing:
    pass


_MISSING = _Missing()


def json_key_condition(field: str, key_path: list[str], op: str, value: Any, path: str, *, max_list_items: int | None = None) -> Q:
    """``field``'s key ``key_path`` compared by ``op`` (see ATTRIBUTE_OPS): a Q on a JSON column."""
    lookup = "__".join([field, *key_path])
    if op == "exists":
        wanted = True if value is _MISSING else value
        if not isinstance(wanted, bool):
            raise SegmentRuleError(path, '"exists" takes true or false.')
        parent = "__".join([field, *key_path[:-1]])
        has = Q(**{f"{parent}__has_key": key_path[-1]})
        return has if wanted else ~has
    if value is _MISSING:
        raise SegmentRuleError(path, f'op "{op}" needs a "value".')
    if op == "in":
        if not isinstance(value, list) or not value or not all(_is_scalar(item) for item in value):
            raise SegmentRuleError(path, '"in" takes a non-empty list of values.')
        _list_length_check(value, path, max_list_items)
        return Q(**{f"{lookup}__in": value})
    if op == "contains":
        if not isinstance(value, str) or not value:
            raise SegmentRuleError(path, '"contains" takes a non-empty text.')
        return Q(**{f"{lookup}__icontains": value})
    if not _is_scalar(value):
        raise SegmentRuleError(path, f'op "{op}" takes a single value (text, number, true/false).')
    if op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or value is None:
            raise SegmentRuleError(path, f'op "{op}" takes a number or a text such as an ISO date.')
        return Q(**{f"{lookup}__{op}": value})
    equal = Q(**{f"{lookup}__exact": value})
    # SQL's NOT over a missing key is unknown, not true: "ne" names the missing case explicitly.
    return equal if op == "eq" else ~equal | Q(**{f"{lookup}__isnull": True})


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def key_path_parse(raw: Any, path: str) -> list[str]:
    if not isinstance(raw, str) or not raw:
        raise SegmentRuleError(path, "expected a name.")
    parts = raw.split(".")
    for part in parts:
        if not _KEY_SEGMENT.match(part) or "__" in part:
            raise SegmentRuleError(
                path, f"{raw!r} is not a usable name: use letters, digits and single underscores (dots for nesting)."
            )
    return parts


def _list_length_check(values: list[Any], path: str, limit: int | None) -> None:
    if limit is not None and len(values) > limit:
        raise SegmentRuleError(
            path, f"a list may hold at most {limit} values (SEGMENT_MAX_LIST_ITEMS); this one has {len(values)}.",
            limit="SEGMENT_MAX_LIST_ITEMS",
        )  # fmt: skip


def _string_or_list(raw: Any, path: str, *, max_items: int | None) -> list[str]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise SegmentRuleError(path, "expected a text or a non-empty list of texts.")
    _list_length_check(values, path, max_items)
    return [v.strip() for v in values]


def _texts_check(rules: Any) -> None:
    """Refuse a NUL character anywhere in the tree: PostgreSQL can neither store nor compare one."""
    stack: list[tuple[Any, str]] = [(rules, "rules")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and "\x00" in node:
            raise SegmentRuleError(path, "null characters are not allowed.")
        if isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in str(key):
                    raise SegmentRuleError(path, "null characters are not allowed in names.")
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{index}]") for index, value in enumerate(node))


def _days(raw: Any, path: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw > 3660:
        raise SegmentRuleError(path, "expected a whole number of days between 0 and 3660.")
    return raw


def segment_rules_compile(rules: Any, *, now: datetime | None = None) -> Q:
    """The Q selecting the contacts that match ``rules``; raises SegmentRuleError. Runs no query.

    Size limits are checked when rules are saved or previewed (segment_rules_validate), not here:
    a segment saved before them keeps working.
    """
    _texts_check(rules)
    return _Compiler(now or timezone.now(), bounded=False).compile(rules, "rules")


def segment_rules_validate(rules: Any) -> None:
    """Raise SegmentRuleError for a malformed tree or a campaign outcome naming an unknown campaign."""
    _texts_check(rules)
    compiler = _Compiler(timezone.now(), bounded=True)
    compiler.compile(rules, "rules")
    if compiler.campaign_ids:
        missing = compiler.campaign_ids - set(Campaign.objects.filter(pk__in=compiler.campaign_ids).values_list("pk", flat=True))
        if missing:
            raise SegmentRuleError("rules", f"unknown campaign id(s): {', '.join(map(str, sorted(missing)))}.")


def segment_contacts(rules: Any, *, now: datetime | None = None) -> QuerySet[Contact]:
    """Contacts (not erased) matching ``rules``, as one lazy query."""
    return Contact.objects.filter(erased_at__isnull=True).filter(segment_rules_compile(rules, now=now))


def follow_up_rules(campaign: Campaign) -> dict[str, Any]:
    """A follow-up's audience as a rule: its parent's recipients who met its condition."""
    if campaign.follow_up_of_id is None:
        raise ValueError(f"Campaign {campaign.pk} is not a follow-up.")
    return {"campaign": campaign.follow_up_of_id, "outcome": campaign.follow_up_condition}


def campaign_audience(campaign: Campaign, *, now: datetime | None = None) -> QuerySet[Contact]:
    """Whom the campaign is for, as one lazy query: its segment, or for a follow-up its parent's outcomes now."""
    rules = follow_up_rules(campaign) if campaign.follow_up_of_id is not None else campaign.segment_chosen().rules
    return segment_contacts(rules, now=now)
