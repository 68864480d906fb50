"""The send-time check compiles its SQL once per campaign shape and reuses it for the next batches.

Each test compares what ``decisions()`` (the reused SQL) decides with what the queryset itself gives
(``eligibility_annotate(...).values(...)``, compiled afresh), and shows that a change between two
batches (a STOP, a template recategorised, other parameters, other time zones) is seen by the next.
"""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.utils import timezone

from campaigns import eligibility
from campaigns.caps import CapLimits
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.parameters import parameter_fields
from campaigns.sending.batch import batch_send
from campaigns.sending.claims import messages_claim
from campaigns.sending.decide import decisions
from campaigns.sending.locks import consent_locks_close
from campaigns.variants import campaign_views_by_label
from consent.models import Contact, Suppression
from consent.services import consent_revoke, suppression_hash
from tests.campaigns.test_sending import SALE_PARAMETERS, eager  # noqa: F401 (eager: autouse fixture)
from tests.factories import contacts_create
from whatsapp.models import MessageTemplate

pytestmark = [pytest.mark.postgres]

NOT_QUIET = "Asia/Kolkata"  # UTC+5:30: never in the one-hour quiet window below


@pytest.fixture(autouse=True)
def compiled_forgotten():
    """Each test starts with no compiled SQL in this process, and leaves none behind."""
    eligibility._COMPILED.clear()
    yield
    eligibility._COMPILED.clear()


def quiet_for_utc_now(now) -> CapLimits:
    """Caps of 1 a day, 3 a week, and quiet hours around UTC's current hour (not Kolkata's)."""
    return CapLimits(max_per_day=1, max_per_week=3, quiet_start=time(now.hour), quiet_end=time((now.hour + 1) % 24))


def campaign_for(template: MessageTemplate, parameters: Any = SALE_PARAMETERS) -> Campaign:
    return Campaign.objects.create(
        name="Spring", template=template, parameters=parameters, status=Campaign.Status.SENDING
    )


def batch(campaign: Campaign, contacts: list[Contact]) -> list[Message]:
    """Messages as the sender holds them: the contact loaded (its time zone groups the batch)."""
    return [Message(campaign=campaign, contact=contact, is_marketing=True) for contact in contacts]


def rows_by_decisions(campaign: Campaign, contacts: list[Contact], limits: CapLimits, now) -> dict[int, dict]:
    return {
        verdict.message.contact_id: verdict.row
        for verdict in decisions(campaign, batch(campaign, contacts), limits, now)
    }


def rows_by_queryset(campaign: Campaign, contacts: list[Contact], limits: CapLimits, now) -> dict[int, dict]:
    """The check as it was before the SQL was reused: the queryset compiled for this one batch."""
    fields = ("pk", "verdict", "consent_status", "consent_event_id", "day_count", "week_count", "time_zone",
              *parameter_fields(campaign.parameters))  # fmt: skip
    queryset = eligibility.eligibility_annotate(
        Contact.objects.filter(pk__in=[c.pk for c in contacts]), campaign=campaign, limits=limits, now=now,
        zones=[c.time_zone for c in contacts],
    )  # fmt: skip
    return {row["pk"]: row for row in queryset.values(*fields)}


def assert_same_rows(reused: dict[int, dict], fresh: dict[int, dict]) -> None:
    assert reused == fresh
    # The same Python types too (an int not a Decimal, a str not a memoryview, None where NULL).
    assert {pk: {k: type(v) for k, v in row.items()} for pk, row in reused.items()} == {
        pk: {k: type(v) for k, v in row.items()} for pk, row in fresh.items()
    }


def reasons(rows: dict[int, dict], contacts: list[Contact]) -> list[str]:
    return [rows[c.pk]["verdict"] for c in contacts]


def compiled_shapes() -> int:
    """How many shapes have SQL compiled for reuse in this process (None: a shape that could not be)."""
    assert None not in eligibility._COMPILED.values()
    return len(eligibility._COMPILED)


@pytest.mark.django_db
def test_the_reused_sql_decides_a_mixed_batch_as_the_queryset_does(spring_sale):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    eligible, opted_out, suppressed, nameless, capped, bad_number = contacts_create(6, time_zone=NOT_QUIET)
    (no_consent,) = contacts_create(1, start=10, opted_in=False, time_zone=NOT_QUIET)
    (quiet,) = contacts_create(1, start=20, time_zone="UTC")
    (us,) = contacts_create(1, start=30, time_zone=NOT_QUIET, country="US")
    consent_revoke(contact=opted_out, source="support")
    Suppression.objects.create(number_hash=suppression_hash(suppressed.phone), source="erasure")
    Contact.objects.filter(pk=nameless.pk).update(name="")
    Contact.objects.filter(pk=bad_number.pk).update(phone="+49")
    Message.objects.create(
        campaign=campaign_for(spring_sale),
        contact=capped,
        status=MessageStatus.DELIVERED,
        is_marketing=True,
        dispatched_at=now,
    )
    contacts = [eligible, opted_out, suppressed, no_consent, nameless, capped, quiet, bad_number, us]
    contacts = list(Contact.objects.filter(pk__in=[c.pk for c in contacts]).order_by("pk"))  # as updated
    campaign = campaign_for(spring_sale)

    first = rows_by_decisions(campaign, contacts, limits, now)
    again = rows_by_decisions(campaign, contacts, limits, now)  # the SQL compiled by the first batch

    by_pk = {c.pk: c for c in contacts}
    assert reasons(first, [by_pk[c.pk] for c in (eligible, opted_out, suppressed, no_consent, nameless, capped, quiet, bad_number, us)]) == [
        "eligible", "opted_out", "suppressed", "no_consent", "missing_parameter", "frequency_cap",
        "quiet_hours_deferral", "invalid_number", "us_marketing_blocked",
    ]  # fmt: skip
    assert first[capped.pk]["day_count"] == 1 and first[eligible.pk]["consent_event_id"] is not None
    assert_same_rows(first, rows_by_queryset(campaign, contacts, limits, now))
    assert_same_rows(again, first)
    assert compiled_shapes() == 1


@pytest.mark.django_db
def test_a_stop_between_two_batches_is_seen_by_the_second(spring_sale):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    ana, ben, cem = contacts_create(3, time_zone=NOT_QUIET)
    campaign = campaign_for(spring_sale)

    assert reasons(rows_by_decisions(campaign, [ana, ben], limits, now), [ana, ben]) == ["eligible", "eligible"]
    consent_revoke(contact=ben, source="inbound_keyword")  # what a STOP records
    second = rows_by_decisions(campaign, [ben, cem], limits, now)

    assert reasons(second, [ben, cem]) == ["opted_out", "eligible"]
    assert_same_rows(second, rows_by_queryset(campaign, [ben, cem], limits, now))
    assert compiled_shapes() == 1  # the second batch ran the first one's SQL


@pytest.mark.django_db
def test_a_template_recategorised_or_other_parameters_between_two_batches_take_effect_at_once(spring_sale):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    (no_consent,) = contacts_create(1, opted_in=False, time_zone=NOT_QUIET)
    (nameless,) = contacts_create(1, start=10, time_zone=NOT_QUIET, name="")
    contacts = [no_consent, nameless]
    campaign = campaign_for(spring_sale)
    assert reasons(rows_by_decisions(campaign, contacts, limits, now), contacts) == ["no_consent", "missing_parameter"]

    # template_category_update MARKETING -> UTILITY: the sender reloads the campaign for each batch.
    MessageTemplate.objects.filter(pk=spring_sale.pk).update(category=MessageTemplate.Category.UTILITY)
    campaign = Campaign.objects.select_related("template").get(pk=campaign.pk)
    utility = rows_by_decisions(campaign, contacts, limits, now)
    assert reasons(utility, contacts) == ["eligible", "missing_parameter"]  # no consent needed now
    assert_same_rows(utility, rows_by_queryset(campaign, contacts, limits, now))

    Campaign.objects.filter(pk=campaign.pk).update(
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}]
    )
    campaign = Campaign.objects.select_related("template").get(pk=campaign.pk)
    with_fallback = rows_by_decisions(campaign, contacts, limits, now)
    assert reasons(with_fallback, contacts) == ["eligible", "eligible"]
    assert with_fallback[nameless.pk]["param_0"] == "there"
    assert_same_rows(with_fallback, rows_by_queryset(campaign, contacts, limits, now))

    MessageTemplate.objects.filter(pk=spring_sale.pk).update(category=MessageTemplate.Category.MARKETING)
    campaign = Campaign.objects.select_related("template").get(pk=campaign.pk)
    assert reasons(rows_by_decisions(campaign, contacts, limits, now), contacts) == ["no_consent", "eligible"]
    assert compiled_shapes() == 4


@pytest.mark.django_db
def test_batches_of_other_time_zones_get_their_own_windows_and_quiet_hours(spring_sale):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    (utc,) = contacts_create(1, time_zone="UTC")
    (kolkata,) = contacts_create(1, start=10, time_zone=NOT_QUIET)
    (auckland,) = contacts_create(1, start=20, time_zone="Pacific/Auckland")
    (denver,) = contacts_create(1, start=30, time_zone="America/Denver")
    campaign = campaign_for(spring_sale)
    for contacts in (
        [utc],
        [kolkata, auckland],
        [utc, kolkata, denver],
        [auckland, denver],
        [utc],
        [kolkata, auckland],
    ):
        reused = rows_by_decisions(campaign, contacts, limits, now)
        assert_same_rows(reused, rows_by_queryset(campaign, contacts, limits, now))
        assert reused[kolkata.pk]["verdict"] == "eligible" if kolkata in contacts else True
        assert reused[utc.pk]["verdict"] == "quiet_hours_deferral" if utc in contacts else True
    assert compiled_shapes() == 4


@pytest.mark.django_db
def test_each_variant_of_an_ab_test_checks_with_its_own_template_and_values(templates, spring_sale):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    contacts = contacts_create(2, time_zone=NOT_QUIET)
    Contact.objects.filter(pk=contacts[1].pk).update(attributes={"first_name": "Ben"})
    campaign = campaign_for(spring_sale)
    campaign.variants = [
        {"share": 50},
        {
            "share": 50,
            "template": "welcome_back",
            "language": "en_US",
            "parameters": [{"attribute": "first_name"}, {"value": "HELLO5"}],
        },
    ]
    campaign.save(update_fields=["variants"])
    views = campaign_views_by_label(campaign)
    for view in views.values():
        assert_same_rows(rows_by_decisions(view, contacts, limits, now), rows_by_queryset(view, contacts, limits, now))
    assert reasons(rows_by_decisions(views["B"], contacts, limits, now), contacts) == ["missing_parameter", "eligible"]
    assert rows_by_decisions(views["B"], contacts, limits, now)[contacts[1].pk]["param_0"] == "Ben"
    assert compiled_shapes() == 2


@pytest.mark.django_db
def test_a_shape_whose_sql_cannot_be_reused_is_checked_by_the_queryset(spring_sale, monkeypatch):
    now = timezone.now()
    limits = quiet_for_utc_now(now)
    (ana,) = contacts_create(1, time_zone=NOT_QUIET)
    (ben,) = contacts_create(1, start=10, opted_in=False, time_zone=NOT_QUIET)
    campaign = campaign_for(spring_sale)
    monkeypatch.setattr(
        eligibility, "_compile", lambda queryset, ids: None
    )  # e.g. the ids not found among the parameters

    for _ in range(2):
        rows = rows_by_decisions(campaign, [ana, ben], limits, now)
        assert reasons(rows, [ana, ben]) == ["eligible", "no_consent"]
        assert_same_rows(rows, rows_by_queryset(campaign, [ana, ben], limits, now))
    assert list(eligibility._COMPILED.values()) == [None]


@pytest.fixture
def lock_connection_closed():
    """batch_send holds the consent locks on a connection of its own: closed before the database goes."""
    yield
    consent_locks_close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.redis
def test_the_sender_reuses_the_sql_across_batches_and_a_stop_in_between_is_honoured(
    sandbox, spring_sale, lock_connection_closed
):
    people = contacts_create(4)
    campaign = campaign_for(spring_sale)
    for person in people:
        Message.objects.create(campaign=campaign, contact=person, is_marketing=True)

    token, first = messages_claim(campaign_id=campaign.pk, limit=2)
    assert batch_send(campaign_id=campaign.pk, token=token, messages=first).sent == 2
    later = [p for p in people if p.pk not in {m.contact_id for m in first}]
    consent_revoke(contact=later[0], source="inbound_keyword")  # STOP between the two batches
    token, second = messages_claim(campaign_id=campaign.pk, limit=2)
    report = batch_send(campaign_id=campaign.pk, token=token, messages=second)

    assert (report.sent, report.skipped) == (1, 1)
    assert Message.objects.get(campaign=campaign, contact=later[0]).decision["reason"] == "opted_out"
    assert sorted("+" + send["to"] for send in sandbox.sends()) == sorted(p.phone for p in people if p != later[0])
    assert compiled_shapes() == 1  # both batches ran one compiled statement
