"""What the admin's visual segment builder needs: the words to pick from and a masked live preview.

``segment_vocabulary`` lists what the data holds (event names with their property keys and common
values, attribute keys and values, tags, countries, languages, earlier campaigns), read from bounded
samples so it stays one quick look even on large tables. ``segment_preview`` counts unsaved rules and
returns a few matching people with their numbers masked. The rules themselves are the grammar of
campaigns.segments: the builder only writes that JSON.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from campaigns.models import Campaign, Event
from campaigns.segments import segment_contacts, segment_query_time_limit, segment_rules_validate
from campaigns.selectors import SAMPLE_SIZE
from consent.models import Contact, Tag
from core.logging import mask_phone

# Bounded reads: the newest events and contacts stand for the rest.
EVENT_SAMPLE = 2000
CONTACT_SAMPLE = 1000
MAX_NAMES = 100
MAX_VALUES = 8
# The names the rule grammar accepts (campaigns.segments._KEY_SEGMENT): others could not be picked.
_USABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _flat_items(data: Any, prefix: str = "", depth: int = 0) -> Iterable[tuple[str, Any]]:
    """``(dotted key, scalar value)`` of a JSON object, one level of nesting deep, usable keys only."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if not isinstance(key, str) or not _USABLE_KEY.match(key) or "__" in key:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 1:
            yield from _flat_items(value, f"{name}.", depth + 1)
        elif value is None or isinstance(value, (str, int, float, bool)):
            yield name, value


def _keys_with_values(objects: Iterable[Any]) -> dict[str, list[Any]]:
    """Each key's most common values (typed as stored: a number stays a number)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for data in objects:
        for key, value in _flat_items(data):
            # Counter keys: 1 and True (and 1.0) are equal in Python; keep the type apart.
            counts[key][(type(value).__name__, value)] += 1
    return {
        key: [value for (_, value), _n in counter.most_common(MAX_VALUES) if value is not None and value != ""]
        for key, counter in sorted(counts.items())[:MAX_NAMES]
    }


def segment_vocabulary() -> dict[str, Any]:
    """The builder's pickers, from the data: a handful of bounded queries."""
    recent_events = list(Event.objects.order_by("-occurred_at").values_list("name", "properties")[:EVENT_SAMPLE])
    properties_by_event: dict[str, list[Any]] = defaultdict(list)
    for name, properties in recent_events:
        properties_by_event[name].append(properties)
    names = sorted(set(Event.objects.order_by("name").values_list("name", flat=True).distinct()[:MAX_NAMES]) | set(properties_by_event))
    contacts = Contact.objects.filter(erased_at__isnull=True)
    attributes = contacts.order_by("-pk").values_list("attributes", flat=True)[:CONTACT_SAMPLE]
    return {
        "events": [{"name": name, "properties": _keys_with_values(properties_by_event.get(name, []))} for name in names[:MAX_NAMES]],
        "attributes": _keys_with_values(attributes),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:MAX_NAMES * 2]),
        "countries": list(contacts.exclude(country="").order_by("country").values_list("country", flat=True).distinct()[:250]),
        "languages": list(contacts.exclude(language="").order_by("language").values_list("language", flat=True).distinct()[:MAX_NAMES]),
        "campaigns": [{"id": pk, "name": name} for pk, name in Campaign.objects.order_by("-pk").values_list("pk", "name")[:MAX_NAMES]],
        "limits": {
            "max_conditions": settings.SEGMENT_MAX_CONDITIONS,
            "max_depth": settings.SEGMENT_MAX_DEPTH,
            "max_list_items": settings.SEGMENT_MAX_LIST_ITEMS,
        },
    }


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list[dict[str, str]]  # {"name", "phone"}: the phone masked


def segment_preview(rules: Any) -> SegmentPreview:
    """Count ``rules`` (not saved) and show a few matching people, numbers masked.

    Raises SegmentRuleError (with the bad part's path) or SegmentQueryTimeout.
    """
    segment_rules_validate(rules)
    contacts = segment_contacts(rules)
    with segment_query_time_limit():
        count = contacts.count()
        people = list(contacts.order_by("pk").values("pk", "name", "phone")[:SAMPLE_SIZE])
    # Known only by a business-scoped user id: no number to show, the contact's id says who it is.
    sample = [
        {"name": person["name"], "phone": mask_phone(person["phone"]) if person["phone"] else f"no number (contact #{person['pk']})"}
        for person in people
    ]
    return SegmentPreview(count=count, sample=sample)
