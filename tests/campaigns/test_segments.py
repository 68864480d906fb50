"""The segment rule language compiled to one SQL query: every condition, groups, negation, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Click, Event, Message, MessageStatus, Segment
from campaigns.segments import SegmentRuleError, segment_contacts, segment_rules_validate
from campaigns.selectors import segment_count
from consent.services import consent_revoke, contact_tags_add
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db


def names(rules) -> set[str]:
    return set(segment_contacts(rules).values_list("name", flat=True))


def event(contact, name, days_ago=0.0, **properties):
    return Event.objects.create(contact=contact, name=name, properties=properties, occurred_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def people():
    ana, ben, cleo, dev = contacts_create(4)
    for contact, name, attrs, country, language, zone in (
        (ana, "ana", {"city": "Berlin", "age": 31, "address": {"zip": "10115"}}, "DE", "de", "Europe/Berlin"),
        (ben, "ben", {"city": "Hamburg", "age": 45}, "DE", "de_DE", "Europe/Berlin"),
        (cleo, "cleo", {"city": "Paris", "age": 28, "vip_since": "2024-03-01"}, "FR", "fr", "Europe/Paris"),
        (dev, "dev", {}, "GB", "en_GB", "Europe/London"),
    ):
        contact.name, contact.attributes, contact.country, contact.language, contact.time_zone = name, attrs, country, language, zone
        contact.save()
    return {"ana": ana, "ben": ben, "cleo": cleo, "dev": dev}


def test_viewed_the_product_in_7_days_and_did_not_buy_it(people):
    ana, ben, cleo, dev = people.values()
    event(ana, "product_viewed", 1, sku="X")
    event(ben, "product_viewed", 2, sku="X")
    event(ben, "purchase", 1, sku="X")  # bought: excluded
    event(cleo, "product_viewed", 9, sku="X")  # too long ago
    event(dev, "product_viewed", 1, sku="Y")  # another product
    event(cleo, "purchase", 20, sku="X")
    rules = {
        "all": [
            {"event": "product_viewed", "where": {"sku": "X"}, "within_days": 7, "min_count": 1},
            {"not": {"event": "purchase", "within_days": 7}},
        ]
    }
    assert names(rules) == {"ana"}


def test_min_count_needs_that_many_events(people):
    for _ in range(3):
        event(people["ana"], "product_viewed", 1, sku="X")
    event(people["ben"], "product_viewed", 1, sku="X")
    assert names({"event": "product_viewed", "min_count": 3, "within_days": 7}) == {"ana"}
    assert names({"event": "product_viewed", "min_count": 1}) == {"ana", "ben"}


def test_event_property_ops(people):
    event(people["ana"], "purchase", 1, amount=120)
    event(people["ben"], "purchase", 1, amount=40)
    assert names({"event": "purchase", "where": {"amount": {"gte": 100}}}) == {"ana"}
    assert names({"event": "purchase", "where": {"amount": {"lt": 100}}}) == {"ben"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"attribute": "city", "op": "eq", "value": "Berlin"}, {"ana"}),
        ({"attribute": "city", "op": "ne", "value": "Berlin"}, {"ben", "cleo", "dev"}),
        ({"attribute": "city", "op": "in", "value": ["Berlin", "Paris"]}, {"ana", "cleo"}),
        ({"attribute": "city", "op": "contains", "value": "burg"}, {"ben"}),
        ({"attribute": "age", "op": "gt", "value": 31}, {"ben"}),
        ({"attribute": "age", "op": "gte", "value": 31}, {"ana", "ben"}),
        ({"attribute": "age", "op": "lt", "value": 31}, {"cleo"}),
        ({"attribute": "age", "op": "lte", "value": 31}, {"ana", "cleo"}),
        ({"attribute": "vip_since", "op": "lt", "value": "2025-01-01"}, {"cleo"}),
        ({"attribute": "city", "op": "exists"}, {"ana", "ben", "cleo"}),
        ({"attribute": "city", "op": "exists", "value": False}, {"dev"}),
        ({"attribute": "address.zip", "op": "eq", "value": "10115"}, {"ana"}),
        ({"country": "DE"}, {"ana", "ben"}),
        ({"country": ["fr", "GB"]}, {"cleo", "dev"}),
        ({"language": "de"}, {"ana", "ben"}),
        ({"any": [{"language": "fr"}, {"tag": "vip"}]}, {"cleo", "dev"}),
        ({"not": {"country": "DE"}}, {"cleo", "dev"}),
    ],
)
def test_contact_conditions(people, condition, expected):
    contact_tags_add(contact=people["dev"], tags=["VIP"])
    assert names(condition) == expected


def test_an_attribute_named_like_a_lookup_is_still_an_attribute(people):
    people["dev"].attributes = {"contains": "x", "gt": 5}
    people["dev"].save()
    assert names({"attribute": "contains", "op": "eq", "value": "x"}) == {"dev"}
    assert names({"attribute": "gt", "op": "gte", "value": 5}) == {"dev"}


def test_consent_age_and_last_inbound(people):
    ana, ben, cleo, dev = people.values()
    now = timezone.now()
    from consent.models import ConsentState

    ConsentState.objects.filter(contact=ben).update(since=now - timedelta(days=400))
    consent_revoke(contact=cleo, source="support")
    assert names({"consent_age_days": {"lte": 365}}) == {"ana", "dev"}
    assert names({"consent_age_days": {"gt": 365}}) == {"ben"}
    ana.last_inbound_at = now - timedelta(days=1)
    ana.save()
    dev.last_inbound_at = now - timedelta(days=10)
    dev.save()
    assert names({"last_inbound_within_days": 3}) == {"ana"}


def test_campaign_outcomes(people):
    ana, ben, cleo, dev = people.values()
    earlier = Campaign.objects.create(name="earlier")
    now = timezone.now()
    Message.objects.create(campaign=earlier, contact=ana, status=MessageStatus.READ, read_at=now, delivered_at=now)
    delivered = Message.objects.create(campaign=earlier, contact=ben, status=MessageStatus.DELIVERED, delivered_at=now)
    Message.objects.create(campaign=earlier, contact=cleo, status=MessageStatus.FAILED)
    Message.objects.create(campaign=earlier, contact=dev, status=MessageStatus.SKIPPED, skip_reason="no_consent")
    Click.objects.create(message=delivered)
    outcome = lambda name: names({"campaign": earlier.pk, "outcome": name})  # noqa: E731
    assert outcome("sent") == {"ana", "ben"}
    assert outcome("delivered") == {"ana", "ben"}
    assert outcome("read") == {"ana"}
    assert outcome("not_read") == {"ben"}
    assert outcome("clicked") == {"ben"}


def test_a_segment_count_is_one_query(people, django_assert_num_queries):
    event(people["ana"], "product_viewed", 1, sku="X")
    campaign = Campaign.objects.create(name="earlier")
    segment = Segment.objects.create(
        name="complex",
        rules={
            "all": [
                {"any": [{"country": "DE"}, {"tag": "vip"}, {"attribute": "age", "op": "gte", "value": 30}]},
                {"event": "product_viewed", "where": {"sku": "X"}, "within_days": 7, "min_count": 2},
                {"not": {"event": "purchase", "within_days": 7}},
                {"consent_age_days": {"lte": 365}},
                {"not": {"campaign": campaign.pk, "outcome": "read"}},
            ]
        },
    )
    with django_assert_num_queries(1):
        assert segment_count(segment) == 0
    event(people["ana"], "product_viewed", 2, sku="X")
    with django_assert_num_queries(1):
        assert segment_count(segment) == 1


def test_erased_contacts_never_match(people):
    people["ana"].erased_at = timezone.now()
    people["ana"].save()
    assert "ana" not in names({"all": []})


@pytest.mark.parametrize(
    ("rules", "path", "fragment"),
    [
        ([], "rules", "expected an object"),
        ({"all": {"tag": "x"}}, "rules.all", "takes a list"),
        ({"any": []}, "rules.any", "at least one"),
        ({"all": [{"tag": "vip"}, {"attribute": "city", "op": "equals", "value": "x"}]}, "rules.all[1].op", "unknown op 'equals'"),
        ({"all": [{"not": {"event": "purchase", "within_days": -1}}]}, "rules.all[0].not.within_days", "whole number of days"),
        ({"event": "purchase", "min_count": 0}, "rules.min_count", "at least 1"),
        ({"attribute": "city__gt", "op": "eq", "value": 1}, "rules.attribute", "not a usable name"),
        ({"attribute": "city", "op": "in", "value": "Berlin"}, "rules.value", "non-empty list"),
        ({"attribute": "city", "op": "eq"}, "rules.value", 'needs a "value"'),
        ({"colour": "red"}, "rules", "cannot tell what this rule is"),
        ({"tag": "vip", "extra": 1}, "rules", "unknown key(s) extra"),
        ({"country": "Germany"}, "rules.country", "two-letter"),
        ({"campaign": 1, "outcome": "opened"}, "rules.outcome", "unknown outcome"),
        ({"all": [], "any": []}, "rules", "exactly one key"),
    ],
)
def test_invalid_rules_name_the_bad_part(rules, path, fragment):
    with pytest.raises(SegmentRuleError) as caught:
        segment_rules_validate(rules)
    assert caught.value.path == path
    assert fragment in str(caught.value)


def test_an_unknown_campaign_is_refused_on_save():
    with pytest.raises(SegmentRuleError, match="unknown campaign id"):
        segment_rules_validate({"campaign": 999999, "outcome": "read"})


def test_ne_matches_contacts_without_the_attribute_even_nested(people):
    assert names({"attribute": "address.zip", "op": "ne", "value": "10115"}) == {"ben", "cleo", "dev"}
    assert names({"event": "purchase", "where": {"sku": {"ne": "X"}}}) == set()
    event(people["ana"], "purchase", 1, amount=3)
    assert names({"event": "purchase", "where": {"sku": {"ne": "X"}}}) == {"ana"}
