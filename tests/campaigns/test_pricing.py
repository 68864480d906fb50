"""The rate card and the cost arithmetic (campaigns/pricing.py): pure functions, no database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from campaigns.pricing import RateCardError, cost_actual, cost_estimate, rate_card_load, rate_card_parse

HEADER = "market,countries,currency,marketing,utility,authentication,authentication_international,service\n"
CARD = (
    "# a comment line\n"
    + HEADER
    + "Germany,DE,EUR,0.1300,0.0500,0.0400,,0\n"
    + "\n"
    + "India,IN,EUR,0.0100,0.0015,0.0012,0.0250,0\n"
    + "Rest of Western Europe,AT be CH,EUR,0.0550,0.0300,0.0300,,0\n"
    + "Other,*,EUR,0.0600,0.0070,0.0070,,0\n"
)


@pytest.fixture
def card():
    return rate_card_parse(CARD, source="card.csv")


def test_each_country_maps_to_its_market_and_the_rest_to_other(card):
    assert card.currency == "EUR"
    assert [card.market_for(c) for c in ("DE", "at", "BE", "IN", "BR", "")] == [
        "Germany", "Rest of Western Europe", "Rest of Western Europe", "India", "Other", "Other",
    ]  # fmt: skip


def test_rates_by_template_or_status_category(card):
    assert card.rate("Germany", "MARKETING") == Decimal("0.1300")  # a template's category
    assert card.rate("Germany", "marketing_lite") == Decimal("0.1300")  # the Marketing Messages API's
    assert card.rate("India", "authentication_international") == Decimal("0.0250")
    assert card.rate("Germany", "authentication_international") == Decimal("0.0400")  # none of its own
    assert card.rate("Germany", "referral") is None


def test_the_estimate_is_people_by_country_times_the_rate_of_the_template_category(card):
    cost = cost_estimate(card, people_by_country={"DE": 3, "AT": 2, "BR": 1, "IN": 0}, category="MARKETING")

    assert cost.total == Decimal("0.3900") + Decimal("0.1100") + Decimal("0.0600")
    assert cost.as_dict()["total"] == "0.56"
    assert [(line.market, line.messages) for line in cost.lines] == [("Germany", 3), ("Rest of Western Europe", 2), ("Other", 1)]


def test_without_a_catch_all_market_other_countries_are_counted_as_unpriced():
    card = rate_card_parse(HEADER + "Germany,DE,USD,0.10,0.05,0.04,,0\n", source="card.csv")
    cost = cost_estimate(card, people_by_country={"DE": 2, "FR": 5}, category="MARKETING")
    assert (cost.total, cost.unpriced) == (Decimal("0.20"), 5)


def test_the_actual_cost_leaves_free_windows_out(card):
    cost = cost_actual(card, [
        ("DE", "marketing", "regular", True, 4),
        ("DE", "marketing_lite", "regular", None, 1),
        ("DE", "service", "free_customer_service", False, 2),
        ("IN", "marketing", "free_entry_point", None, 3),
        ("IN", "utility", "", False, 1),  # older payloads: only the deprecated billable flag
        ("IN", "utility", "", True, 10),
    ])  # fmt: skip

    assert cost.free == 6
    assert cost.total == Decimal("0.1300") * 5 + Decimal("0.0015") * 10
    assert cost.as_dict()["total"] == "0.67"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("France,FR,EUR,abc,0.03,0.03,,0", "card.csv, row 4: marketing 'abc' is not a number"),
        ("France,FR,EUR,-0.1,0.03,0.03,,0", "card.csv, row 4: marketing '-0.1' must be a price of zero or more"),
        ("France,FR,EUR,0.08,,0.03,,0", "card.csv, row 4: the utility rate is empty"),
        ("France,France,EUR,0.08,0.03,0.03,,0", "card.csv, row 4: 'FRANCE' is not a two-letter country code"),
        ("France,FR,USD,0.08,0.03,0.03,,0", "card.csv, row 4: currency USD differs from the card's EUR"),
        ("France,FR,euro,0.08,0.03,0.03,,0", "card.csv, row 4: currency 'euro' is not a three-letter code"),
        ("France,DE,EUR,0.08,0.03,0.03,,0", "card.csv, row 4: DE is already in the market 'Germany'"),
        ("Germany,FR,EUR,0.08,0.03,0.03,,0", "card.csv, row 4: the market 'Germany' is listed twice"),
        ("France,FR,EUR,0.08,0.03,0.03,,0,9", "card.csv, row 4: 9 values, more than the header's 8 columns"),
        (",FR,EUR,0.08,0.03,0.03,,0", "card.csv, row 4: the market is empty"),
        ("France,,EUR,0.08,0.03,0.03,,0", "card.csv, row 4: no countries for the market 'France'"),
    ],
)
def test_a_bad_row_is_refused_naming_the_file_and_the_row(row, message):
    text = "# rates\n" + HEADER + "Germany,DE,EUR,0.13,0.05,0.04,,0\n" + row + "\n"
    with pytest.raises(RateCardError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        rate_card_parse(text, source="card.csv")


def test_a_missing_column_or_file_is_refused_by_name(tmp_path: Path):
    with pytest.raises(RateCardError, match="card.csv: the header row lacks the column.s. utility, authentication"):
        rate_card_parse("market,countries,currency,marketing\nGermany,DE,EUR,0.1\n", source="card.csv")
    with pytest.raises(RateCardError, match="nope.csv: cannot read the rate card"):
        rate_card_load(tmp_path / "nope.csv")


def test_the_shipped_card_prices_every_country_in_one_currency():
    card = rate_card_load(Path(__file__).resolve().parents[2] / "campaigns" / "whatsapp_rate_card.csv")
    assert card.currency == "USD" and card.fallback == "Other"
    assert card.market_for("DE") == "Germany" and card.market_for("US") == card.market_for("CA") == "North America"
    assert card.market_for("PT") == "Rest of Western Europe" and card.market_for("KE") == "Rest of Africa"
    assert all(card.rate(market, "marketing") for market in card.rates)
