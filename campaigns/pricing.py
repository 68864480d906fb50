"""What WhatsApp charges for a campaign: the rate card, the estimate before approval, the actual cost after.

Meta bills per delivered message since 1 July 2025, by the message's pricing category (marketing,
utility, authentication, authentication-international, service) and the market of the recipient's
country calling code; some countries have a rate of their own, the others are grouped into regions
("Rest of Africa", "Rest of Western Europe"...) and "Other". Messages in a free customer service
window or a free entry-point window are not charged.
(https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing, and the copies
providers publish: https://docs.askyazi.com/whatsapp-api-pricing/pricing,
https://help.eazybe.com/pt/waba/pricing.) A message sent through the Marketing Messages API reports
the category ``marketing_lite`` and is priced at the marketing rate.

The rate card is a CSV file (``WHATSAPP_RATE_CARD_FILE``), one row a market::

    market,countries,currency,marketing,utility,authentication,authentication_international,service
    Germany,DE,USD,0.1502,0.0605,0.0605,,0
    North America,US CA,USD,0.0275,0.0044,0.0044,,0
    Other,*,USD,0.0604,0.0077,0.0077,,0

``countries`` are two-letter codes separated by spaces, ``*`` for every country no other row names.
Empty ``authentication_international`` means the authentication rate. Lines starting with ``#``
are comments. Everything here but ``rate_card_current`` is a pure function.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings

REQUIRED_COLUMNS = ("market", "countries", "currency", "marketing", "utility", "authentication")
OPTIONAL_RATE_COLUMNS = ("authentication_international", "service")
CATEGORIES = ("marketing", "utility", "authentication", "authentication_international", "service")
# Statuses' ``pricing.category`` values billed at another category's rate.
CATEGORY_RATE_OF = {"marketing_lite": "marketing"}
# ``pricing.type`` values Meta does not charge for.
FREE_PRICING_TYPES = frozenset({"free_customer_service", "free_entry_point"})
ANY_COUNTRY = "*"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class RateCardError(ValueError):
    """A rate card that cannot be read; the message names the file and the row."""


@dataclass(frozen=True)
class RateCard:
    currency: str
    rates: dict[str, dict[str, Decimal]]  # market -> category -> price per message
    markets: dict[str, str]  # two-letter country -> market
    fallback: str = ""  # the market of every other country ("*"), if the card has one
    source: str = ""

    def market_for(self, country: str) -> str:
        """The market of a two-letter country; "" when the card prices no such country."""
        return self.markets.get((country or "").upper(), self.fallback)

    def rate(self, market: str, category: str) -> Decimal | None:
        """Price of one message of ``category`` (a template's or a status's) in ``market``."""
        rates = self.rates.get(market)
        if rates is None:
            return None
        category = category.lower()
        category = CATEGORY_RATE_OF.get(category, category)
        if category == "authentication_international" and category not in rates:
            category = "authentication"
        return rates.get(category)


def _rate(value: str, *, where: str, column: str, required: bool) -> Decimal | None:
    value = value.strip()
    if not value:
        if required:
            raise RateCardError(f"{where}: the {column} rate is empty.")
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise RateCardError(f"{where}: {column} {value!r} is not a number (write 0.0123).") from None
    if not price.is_finite() or price < 0:
        raise RateCardError(f"{where}: {column} {value!r} must be a price of zero or more.")
    return price


def rate_card_parse(text: str, *, source: str) -> RateCard:
    """Read a rate card; a malformed one raises RateCardError naming ``source`` and the row (file line)."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue  # blank lines and comments
        if not header:
            header = [cell.strip() for cell in cells]
        else:
            rows.append((reader.line_num, cells))
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise RateCardError(
            f"{source}: the header row lacks the column(s) {', '.join(missing)}; "
            f"expected {','.join(REQUIRED_COLUMNS + OPTIONAL_RATE_COLUMNS)}."
        )
    currency = ""
    rates: dict[str, dict[str, Decimal]] = {}
    markets: dict[str, str] = {}
    fallback = ""
    for line_num, cells in rows:
        where = f"{source}, row {line_num}"
        if len(cells) > len(header):
            raise RateCardError(f"{where}: {len(cells)} values, more than the header's {len(header)} columns.")
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
        values.update({name: "" for name in header[len(cells):]})
        market = values["market"]
        if not market:
            raise RateCardError(f"{where}: the market is empty.")
        if market in rates:
            raise RateCardError(f"{where}: the market {market!r} is listed twice.")
        if not _CURRENCY.match(values["currency"]):
            raise RateCardError(f"{where}: currency {values['currency']!r} is not a three-letter code such as USD.")
        if currency and values["currency"] != currency:
            raise RateCardError(f"{where}: currency {values['currency']} differs from the card's {currency} (one card, one billing currency).")
        currency = values["currency"]
        countries = values["countries"].upper().split()
        if not countries:
            raise RateCardError(f"{where}: no countries for the market {market!r} (two-letter codes, or * for all others).")
        for country in countries:
            if country == ANY_COUNTRY:
                if fallback:
                    raise RateCardError(f"{where}: * is already the market {fallback!r}.")
                fallback = market
            elif not _COUNTRY.match(country):
                raise RateCardError(f"{where}: {country!r} is not a two-letter country code such as DE.")
            elif country in markets:
                raise RateCardError(f"{where}: {country} is already in the market {markets[country]!r}.")
            else:
                markets[country] = market
        prices = {}
        for column in REQUIRED_COLUMNS[3:] + OPTIONAL_RATE_COLUMNS:
            price = _rate(values.get(column) or "", where=where, column=column, required=column in REQUIRED_COLUMNS)
            if price is not None:
                prices[column] = price
        rates[market] = prices
    if not rates:
        raise RateCardError(f"{source}: no market rows.")
    return RateCard(currency=currency, rates=rates, markets=markets, fallback=fallback, source=source)


def rate_card_load(path: str | Path) -> RateCard:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RateCardError(f"{path}: cannot read the rate card ({exc}).") from exc
    return rate_card_parse(text, source=str(path))


_loaded: dict[tuple[str, int, int], RateCard] = {}


def rate_card_current() -> RateCard:
    """The card of ``settings.WHATSAPP_RATE_CARD_FILE``, read again when the file changes."""
    path = Path(settings.WHATSAPP_RATE_CARD_FILE)
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise RateCardError(f"{path}: cannot read the rate card ({exc.strerror}).") from exc
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = rate_card_load(path)
    return _loaded[key]


# --- cost -------------------------------------------------------------------------------------------


@dataclass
class CostLine:
    market: str
    category: str
    messages: int
    rate: Decimal
    amount: Decimal


@dataclass
class Cost:
    currency: str
    lines: list[CostLine] = field(default_factory=list)
    free: int = 0  # messages Meta does not charge for (free windows)
    unpriced: int = 0  # messages whose country or category the card has no rate for

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "total": str(money(self.total)),
            "by_market": [
                {"market": line.market, "category": line.category, "messages": line.messages,
                 "rate": str(line.rate), "amount": str(money(line.amount))}
                for line in self.lines
            ],  # fmt: skip
            "free": self.free,
            "unpriced": self.unpriced,
        }


def money(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _cost(card: RateCard, counts: Iterable[tuple[str, str, int]]) -> Cost:
    """Cost of (country, category, messages) counts, one line per market and category."""
    cost = Cost(currency=card.currency)
    lines: dict[tuple[str, str], CostLine] = {}
    for country, category, n in counts:
        market = card.market_for(country)
        rate = card.rate(market, category)
        if rate is None:
            cost.unpriced += n
            continue
        line = lines.setdefault((market, category), CostLine(market=market, category=category, messages=0, rate=rate, amount=Decimal(0)))
        line.messages += n
        line.amount += rate * n
    cost.lines = sorted(lines.values(), key=lambda line: (-line.amount, line.market))
    return cost


def cost_estimate(card: RateCard, *, people_by_country: Mapping[str, int], category: str) -> Cost:
    """What sending a template of ``category`` to these people costs if every message is delivered.

    An upper bound: Meta charges only delivered messages, and a utility template to a person whose
    customer service window is open is free.
    """
    return _cost(card, ((country, category.lower(), n) for country, n in people_by_country.items() if n))


def cost_actual(card: RateCard, priced: Iterable[tuple[str, str, str, bool | None, int]]) -> Cost:
    """What delivered messages cost, from (country, pricing category, pricing type, billable, count).

    The type and category come from the messages' status webhooks; ``billable`` is the deprecated
    flag that older payloads carry instead of a type.
    """
    free = 0
    counts = []
    for country, category, pricing_type, billable, n in priced:
        if pricing_type in FREE_PRICING_TYPES or (not pricing_type and billable is False):
            free += n
        else:
            counts.append((country, category, n))
    cost = _cost(card, counts)
    cost.free = free
    return cost
