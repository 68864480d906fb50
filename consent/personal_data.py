"""What each app holds about a person: registered by the app, used by rights and retention.

The rights code (consent.rights: export, erasure) and retention (consent.retention) iterate this
registry and import no other app of ours. Each app registers in its ``AppConfig.ready()``::

    personal_data_register(PersonalData(name="campaigns.messages", models=(Message,), export=..., erase=..., retention=(...)))

Models that hold nothing about a person are declared with ``personal_data_none``. The test
tests/rights/test_personal_data_registry.py fails for a model of ours that is neither, so a new
model with personal data cannot slip past export and erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Model, QuerySet

ERASED = "[erased]"


@dataclass(frozen=True)
class PersonTraces:
    """The strings by which a person can be found in stored text: their number in its forms, their name,
    and the ids of the WhatsApp messages they sent or were sent (a message id encodes the number)."""

    numbers: tuple[str, ...]
    name: str
    message_ids: tuple[str, ...] = ()

    @property
    def searchable(self) -> tuple[str, ...]:
        """What to look for across all rows: a short name would match unrelated text, so it is left out."""
        return (*self.numbers, self.name) if len(self.name) >= 4 else self.numbers

    def found_in(self, text: str) -> bool:
        lowered = text.lower()
        return (
            any(n in text for n in self.numbers)
            or any(m in text for m in self.message_ids)
            or bool(self.name and self.name.lower() in lowered)
        )

    def scrub(self, value: Any, drop_keys: frozenset[str] = frozenset()) -> Any:
        """``value`` (JSON data) with every string that mentions the person, and every ``drop_keys`` entry, erased."""
        if isinstance(value, dict):
            return {key: ERASED if key in drop_keys else self.scrub(item, drop_keys) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item, drop_keys) for item in value]
        if isinstance(value, str) and self.found_in(value):
            return ERASED
        return value


@dataclass(frozen=True)
class RetentionRule:
    """Rows of one kind of data past their period: ``due(cutoff)`` finds them, ``apply(pks)`` empties them."""

    kind: str
    days: Callable[[], int]  # read at run time: the setting may change between runs
    due: Callable[[datetime], QuerySet]
    apply: Callable[[list], int]  # returns how many rows changed


@dataclass(frozen=True)
class PersonalData:
    """One app's data about people: how to export it, erase it and let it expire.

    ``export(contact)`` returns sections of the data package; ``erase(contact, traces)`` returns
    counts for the erasure report and runs while the contact still has its number and name.
    ``message_ids(contact)`` lists the WhatsApp message ids the app holds for the person: they are
    gathered before any app erases, so every app can remove the others' mentions of them too.
    """

    name: str
    models: tuple[type[Model], ...]
    export: Callable[[Any], dict[str, Any]] | None = None
    erase: Callable[[Any, PersonTraces], dict[str, int]] | None = None
    message_ids: Callable[[Any], Iterable[str]] | None = None
    retention: tuple[RetentionRule, ...] = field(default_factory=tuple)


_registry: dict[str, PersonalData] = {}
_without: dict[str, str] = {}


def personal_data_register(entry: PersonalData) -> None:
    _registry[entry.name] = entry  # by name: ready() may run twice in tests


def personal_data_none(*models: type[Model], reason: str) -> None:
    """Declare models that hold nothing about a person (say why, for the reviewer of a new field)."""
    for model in models:
        _without[model._meta.label] = reason


def personal_data_entries() -> list[PersonalData]:
    return list(_registry.values())


def models_covered() -> dict[str, str]:
    """Model label -> the entry (or the reason) that accounts for it."""
    covered = {label: f"no personal data: {reason}" for label, reason in _without.items()}
    for entry in _registry.values():
        for model in entry.models:
            covered[model._meta.label] = entry.name
    return covered


def rows(queryset: QuerySet, *, exclude: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A queryset's rows with every concrete column (less ``exclude``), for a data package."""
    columns = [f.attname for f in queryset.model._meta.concrete_fields if f.attname not in exclude]
    return list(queryset.values(*columns, *extra))
