"""Who acts on each kind of webhook item: the apps that own the data register a handler.

The WhatsApp app stores, verifies and parses deliveries but knows no business rule: campaigns
applies statuses to its outbox, conversations applies inbound messages and preference changes.
Each app registers in its ``AppConfig.ready()``::

    handler_register(ItemKind.INBOUND, inbound_items_handle, urgent=is_optout)

A handler takes a list of (item, delivery) pairs and must be idempotent (Meta repeats deliveries;
``receipts_claim`` helps). ``urgent`` marks items applied before Meta gets its 200 (opt-outs), so
nothing is sent to that person after we answered. A kind without a handler fails the system
check at start-up (whatsapp.E001), so no delivery is stored and then silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core import checks

from whatsapp.webhooks import ItemKind, WebhookItem

if TYPE_CHECKING:
    from whatsapp.models import WebhookDelivery

ItemPairs = list[tuple[Any, "WebhookDelivery | None"]]


@dataclass(frozen=True)
class Handler:
    kind: str
    handle: Callable[[ItemPairs], None]
    urgent: Callable[[Any], bool] | None = None
    name: str = ""


_handlers: dict[str, list[Handler]] = {}


def handler_register(kind: str, handle: Callable[[ItemPairs], None], *, urgent: Callable[[Any], bool] | None = None) -> None:
    """Register ``handle`` for items of ``kind`` (several apps may handle one kind, in order)."""
    if kind not in ItemKind.ALL:
        raise ValueError(f"Unknown webhook item kind {kind!r}; one of {', '.join(ItemKind.ALL)}.")
    name = f"{handle.__module__}.{handle.__qualname__}"
    registered = _handlers.setdefault(kind, [])
    if all(handler.name != name for handler in registered):  # ready() may run twice in tests
        registered.append(Handler(kind=kind, handle=handle, urgent=urgent, name=name))


def handlers_for(kind: str) -> list[Handler]:
    return _handlers.get(kind, [])


def is_urgent(kind: str, item: WebhookItem) -> bool:
    """Whether a handler wants ``item`` applied before the delivery is acknowledged."""
    return any(handler.urgent is not None and handler.urgent(item) for handler in handlers_for(kind))


def items_dispatch(kind: str, pairs: ItemPairs) -> None:
    """Hand the items to every handler of their kind."""
    if not pairs:
        return
    for handler in handlers_for(kind):
        handler.handle(pairs)


def handlers_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every kind of webhook item needs a handler: a missing one would drop what Meta told us."""
    return [
        checks.Error(
            f"No handler is registered for webhook items of kind '{kind}'.",
            hint="The app that owns them registers one with whatsapp.handlers.handler_register() in its AppConfig.ready().",
            id="whatsapp.E001",
        )
        for kind in ItemKind.ALL
        if not _handlers.get(kind)
    ]
