"""Hostile input gets a clear 4xx, costs little and leaves nothing half-written.

Through the public interfaces only: the REST API, the admin, the CSV import command and the webhook.
"""

from __future__ import annotations

import csv
import json
import time
from io import StringIO
from pathlib import Path

import phonenumbers
import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Event, Segment
from consent.models import ConsentEvent, Contact
from conversations.models import InboundMessage
from tests.factories import NOTICE_TEXT, api_client, contacts_create, payload, post_webhook, process_pending_deliveries
from whatsapp.models import WebhookDelivery

pytestmark = pytest.mark.django_db

PHONE = "+4915123456789"
NOW = "2026-11-25T14:03:00Z"
NON_GEOGRAPHIC_CODES = [800, 808, 870, 881, 882, 883, 888, 979]


@pytest.fixture
def as_marketer(marketer):
    client = api_client(marketer)
    client.raise_request_exception = False  # a 500 must show up as a response, not as a test crash
    return client


def _post_raw(client, url: str, body: str | bytes):
    return client.generic("POST", url, body, content_type="application/json")


def _nothing_written() -> None:
    assert Contact.objects.count() == 0
    assert ConsentEvent.objects.count() == 0
    assert Event.objects.count() == 0
    assert Segment.objects.count() == 0


def _nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _groups(depth: int) -> dict:
    """A rule tree with ``depth`` nested "all" groups around one condition."""
    rule: dict = {"tag": "vip"}
    for _ in range(depth):
        rule = {"all": [rule]}
    return rule


# --- segment rules: bounded trees ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "limit", "path"),
    [
        (_groups(7), "SEGMENT_MAX_DEPTH", "rules" + ".all[0]" * 7),
        ({"any": [{"tag": f"t{n}"} for n in range(51)]}, "SEGMENT_MAX_CONDITIONS", "rules.any[50]"),
        ({"event": "viewed", "where": {f"p{n}": 1 for n in range(51)}}, "SEGMENT_MAX_CONDITIONS", "rules.where.p49"),
        ({"attribute": "city", "op": "in", "value": [str(n) for n in range(1001)]}, "SEGMENT_MAX_LIST_ITEMS", "rules.value"),
        ({"all": [{"language": [f"l{n}" for n in range(1001)]}]}, "SEGMENT_MAX_LIST_ITEMS", "rules.all[0].language"),
        ({"country": ["DE"] * 1001}, "SEGMENT_MAX_LIST_ITEMS", "rules.country"),
    ],
    ids=["depth", "conditions", "where-properties", "in-list", "language-list", "country-list"],
)
@pytest.mark.parametrize("url", ["/api/v1/segments/preview", "/api/v1/segments"])
def test_rules_over_a_limit_are_refused_naming_the_limit_and_where(as_marketer, rules, limit, path, url):
    response = as_marketer.post(url, {"name": "big", "rules": rules}, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["limit"], body["path"], body["field"]) == (limit, path, "rules")
    assert limit in body["detail"]
    _nothing_written()


def test_the_limits_themselves_are_accepted(as_marketer):
    rules = {"all": [_groups(5), {"any": [{"tag": f"t{n}"} for n in range(48)]},
                     {"attribute": "city", "op": "in", "value": [str(n) for n in range(1000)]}]}  # fmt: skip

    response = as_marketer.post("/api/v1/segments/preview", {"rules": rules}, format="json")

    assert response.status_code == 200, response.json()


def test_the_limits_follow_the_settings(as_marketer, settings):
    settings.SEGMENT_MAX_LIST_ITEMS = 3
    rule = {"attribute": "city", "op": "in", "value": ["a", "b", "c"]}

    assert as_marketer.post("/api/v1/segments/preview", {"rules": rule}, format="json").status_code == 200
    rule["value"].append("d")
    response = as_marketer.post("/api/v1/segments/preview", {"rules": rule}, format="json")
    assert response.status_code == 400
    assert "at most 3 values" in response.json()["detail"]


def test_a_segment_saved_before_the_limits_still_counts_but_cannot_be_saved_again_unchanged(as_marketer):
    rules = {"any": [{"tag": f"t{n}"} for n in range(60)]}
    legacy = Segment.objects.create(name="legacy", rules=rules)  # as stored before the limits

    count = as_marketer.get(f"/api/v1/segments/{legacy.pk}/count")
    resave = as_marketer.put(f"/api/v1/segments/{legacy.pk}", {"name": "legacy", "rules": rules}, format="json")

    assert (count.status_code, count.json()["count"]) == (200, 0)
    assert resave.status_code == 400
    assert resave.json()["limit"] == "SEGMENT_MAX_CONDITIONS"
    assert Segment.objects.get().rules == rules


def test_a_20000_item_list_is_refused_at_once(as_marketer):
    rule = {"attribute": "city", "op": "in", "value": [f"city-{n}" for n in range(20_000)]}

    started = time.monotonic()
    response = as_marketer.post("/api/v1/segments/preview", {"rules": rule}, format="json")

    assert response.status_code == 400
    assert response.json()["limit"] == "SEGMENT_MAX_LIST_ITEMS"
    assert time.monotonic() - started < 3


# --- segment counts: a statement timeout ------------------------------------------------------------

# Fifty substring searches over every contact's attributes: far slower than one millisecond.
SLOW_RULES = {"any": [{"attribute": "note", "op": "contains", "value": f"needle-{n}"} for n in range(50)]}


@pytest.fixture
def many_contacts(db) -> None:
    contacts_create(3000, opted_in=False, attributes={"note": "a haystack without what is looked for " * 4})


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_a_preview_running_past_the_timeout_is_stopped_with_a_503(as_marketer, settings, many_contacts):
    before = _statement_timeout()
    settings.SEGMENT_QUERY_TIMEOUT_SECONDS = 0.001

    response = as_marketer.post("/api/v1/segments/preview", {"rules": SLOW_RULES}, format="json")

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["limit"] == "SEGMENT_QUERY_TIMEOUT_SECONDS"
    assert "took longer than 0.001 seconds" in body["detail"]
    # The limit ended with the request: the connection's next statement runs without it.
    assert _statement_timeout() == before
    settings.SEGMENT_QUERY_TIMEOUT_SECONDS = 30
    response = as_marketer.post("/api/v1/segments/preview", {"rules": SLOW_RULES}, format="json")
    assert response.json()["count"] == 0
    assert _statement_timeout() == before


@pytest.mark.postgres
def test_a_saved_segments_count_running_past_the_timeout_is_stopped_with_a_503(as_marketer, settings, many_contacts):
    segment = Segment.objects.create(name="slow", rules=SLOW_RULES)
    settings.SEGMENT_QUERY_TIMEOUT_SECONDS = 0.001

    response = as_marketer.get(f"/api/v1/segments/{segment.pk}/count")

    assert response.status_code == 503
    assert response.json()["limit"] == "SEGMENT_QUERY_TIMEOUT_SECONDS"


def test_the_admin_live_count_gets_the_clear_error_as_json(admin_client_for, marketer):
    """The REST preview endpoint names the bad part of too deep a tree in ``detail``."""
    client = admin_client_for(marketer)

    response = client.post("/api/v1/segments/preview", {"rules": _groups(9)}, content_type="application/json")

    assert response.status_code == 400
    assert "nested more than 6 levels deep" in response.json()["detail"]


def test_the_admin_segment_form_refuses_a_nul_in_the_rules(admin_client_for, superuser):
    client = admin_client_for(superuser)
    client.raise_request_exception = False

    response = client.post("/admin/campaigns/segment/add/", {"name": "x", "description": "", "rules": '{"tag": "a\\u0000"}'})

    assert response.status_code == 200  # the form again, with the error
    assert "null characters are not allowed" in response.content.decode()
    _nothing_written()


# --- NUL characters --------------------------------------------------------------------------------

NUL_BODIES = [
    ("/api/v1/contacts", {"phone": PHONE, "name": "Ana\x00"}, {"name": ["Null characters are not allowed."]}),
    ("/api/v1/contacts", {"phone": PHONE, "attributes": {"city": "Ber\x00lin"}},
     {"attributes": {"city": ["Null characters are not allowed."]}}),
    ("/api/v1/contacts", {"phone": PHONE, "attributes": {"ci\x00ty": "Berlin"}},
     {"attributes": {"ci\\u0000ty": ["Null characters are not allowed in names."]}}),
    ("/api/v1/contacts", {"phone": PHONE, "attributes": {"address": {"lines": ["x", "\x00"]}}},
     {"attributes": {"address": {"lines": {"1": ["Null characters are not allowed."]}}}}),
    ("/api/v1/contacts", {"phone": PHONE, "tags": ["vip", "a\x00"]}, {"tags": {"1": ["Null characters are not allowed."]}}),
    ("/api/v1/consents", {"phone": PHONE, "action": "opt_in", "source": "web_form", "evidence": {"notice_text": NOTICE_TEXT, "note": "\x00"}},
     {"evidence": {"note": ["Null characters are not allowed."]}}),
    ("/api/v1/events", {"events": [{"phone": PHONE, "name": "viewed", "properties": {"sku": "X\x00"}, "occurred_at": NOW}]},
     {"events": {"0": {"properties": {"sku": ["Null characters are not allowed."]}}}}),
    ("/api/v1/events", [{"phone": PHONE, "name": "viewed", "properties": {"sku": "X\x00"}, "occurred_at": NOW}],
     {"0": {"properties": {"sku": ["Null characters are not allowed."]}}}),
    ("/api/v1/segments", {"name": "vips", "rules": {"tag": "vip\x00"}}, {"rules": {"tag": ["Null characters are not allowed."]}}),
    ("/api/v1/segments/preview", {"rules": {"attribute": "city", "op": "in", "value": ["a", "\x00"]}},
     {"rules": {"value": {"1": ["Null characters are not allowed."]}}}),
]  # fmt: skip


@pytest.mark.parametrize(("url", "body", "errors"), NUL_BODIES, ids=[f"{url}-{n}" for n, (url, _, _) in enumerate(NUL_BODIES)])
def test_a_nul_character_anywhere_in_a_json_body_is_a_400_naming_the_field(as_marketer, url, body, errors):
    response = as_marketer.post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json() == errors
    _nothing_written()


def test_a_nul_character_in_a_form_body_is_a_400_naming_the_field(as_marketer):
    response = as_marketer.post("/api/v1/contacts", {"phone": PHONE, "attributes.city": "Ber\x00lin"}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json() == {"attributes.city": ["Null characters are not allowed."]}
    _nothing_written()


def _write_csv(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["phone", "name", "city", "consent_opted_in_at", "consent_notice_text"])
        writer.writerows(rows)
    return path


def _import(path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_contacts", str(path), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_the_csv_import_reports_a_row_with_a_nul_and_imports_the_others(tmp_path):
    path = _write_csv(tmp_path, [
        ["+4915123456780", "Ana", "Berlin", "2026-03-01", NOTICE_TEXT],
        ["+4915123456781", "Ben\x00", "Ham\x00burg", "2026-03-01", NOTICE_TEXT],
        ["+4915123456782", "Cleo", "Köln", "2026-03-01", NOTICE_TEXT],
    ])  # fmt: skip

    summary, problems = _import(path)

    assert summary == "imported 2, updated 0, unchanged 0, rejected 1"
    assert problems == "row 3: name, city holds a NUL character (\\0); remove it and import the row again."
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Ana", "Cleo"]
    assert not Contact.objects.filter(phone="+4915123456781").exists()
    assert ConsentEvent.objects.count() == 2


# --- non-geographic numbers ---------------------------------------------------------------------


def _non_geographic(code: int) -> str:
    return phonenumbers.format_number(phonenumbers.example_number_for_non_geo_entity(code), phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize("code", NON_GEOGRAPHIC_CODES)
def test_a_non_geographic_number_is_refused_with_a_400_everywhere(as_marketer, code, tmp_path):
    number = _non_geographic(code)
    expected = f"{number!r} has the non-geographic country code +{code} (no country): only numbers of a country can be messaged on WhatsApp."

    contact = as_marketer.post("/api/v1/contacts", {"phone": number, "name": "Sat"}, format="json")
    consent = as_marketer.post(
        "/api/v1/consents", {"phone": number, "action": "opt_in", "source": "web_form", "evidence": {"notice_text": NOTICE_TEXT}}, format="json"
    )
    event = as_marketer.post("/api/v1/events", [{"phone": number, "name": "viewed", "occurred_at": NOW}], format="json")
    summary, problems = _import(_write_csv(tmp_path, [[number, "Sat", "", "", ""]]))

    assert (contact.status_code, contact.json()) == (400, {"phone": [expected]})
    assert (consent.status_code, consent.json()) == (400, {"phone": [expected]})
    assert event.status_code == 200
    assert event.json()["rejected"] == [{"index": 0, "reason": f"phone: {expected}"}]
    assert (summary, problems) == ("imported 0, updated 0, unchanged 0, rejected 1", f"row 2: {expected}")
    _nothing_written()


def test_a_whatsapp_message_from_a_non_geographic_number_is_kept_without_a_contact(client):
    wa_id = _non_geographic(882).lstrip("+")
    body = json.dumps(payload("inbound_text_stop.json", {"4915123456789": wa_id})).encode()

    response = post_webhook(client, body)
    process_pending_deliveries()

    assert response.status_code == 200
    assert InboundMessage.objects.filter(contact__isnull=True).count() == 1
    assert Contact.objects.count() == 0


# --- deep and large bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 900, 5000, 100_000])
def test_an_api_body_nested_too_deep_is_a_400_naming_the_limit(as_marketer, depth):
    raw = json.dumps({"phone": PHONE, "attributes": {"k": "HOLE"}}).replace('"HOLE"', "[" * depth + "]" * depth)

    response = _post_raw(as_marketer, "/api/v1/contacts", raw)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["limit"] == "API_MAX_JSON_DEPTH"
    assert "nested more than 32 levels deep" in body["detail"]
    _nothing_written()


def test_a_body_at_the_depth_limit_is_accepted(as_marketer):
    attributes = {"k": _nested(30)}  # body, attributes and 30 lists: 32 levels

    response = as_marketer.post("/api/v1/contacts", {"phone": PHONE, "attributes": attributes}, format="json")

    assert response.status_code == 201, response.content
    assert Contact.objects.get().attributes == attributes


def test_a_body_over_the_size_limit_is_a_json_413_naming_the_limit(as_marketer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    raw = json.dumps({"phone": PHONE, "name": "x" * 150_000})

    response = _post_raw(as_marketer, "/api/v1/contacts", raw)

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than the limit of 100,000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); send fewer items per request.",
        "limit": "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "max_bytes": 100_000,
    }
    _nothing_written()


@pytest.mark.parametrize("depth", [40, 5000])
def test_a_webhook_body_nested_too_deep_is_a_400_and_not_stored(client, depth):
    envelope = payload("inbound_text_stop.json")
    envelope["entry"][0]["changes"][0]["value"]["extra"] = "HOLE"
    body = json.dumps(envelope).replace('"HOLE"', "[" * depth + "]" * depth).encode()

    response = post_webhook(client, body)

    assert response.status_code == 400
    assert response.json() == {"error": "Not a WhatsApp webhook envelope: The body is nested more than 32 levels deep."}
    assert WebhookDelivery.objects.count() == 0


# --- wa_id ---------------------------------------------------------------------------------------


def test_a_wa_id_of_another_number_is_refused_naming_both_fields(as_marketer):
    response = as_marketer.post("/api/v1/contacts", {"phone": PHONE, "wa_id": "4915199999999"}, format="json")

    assert response.status_code == 400
    message = "wa_id 4915199999999 is not the WhatsApp id of phone +4915123456789 (expected 4915123456789)."
    assert response.json() == {"phone": [message], "wa_id": [message]}
    _nothing_written()


def test_a_wa_id_of_another_number_does_not_change_a_known_contact(as_marketer):
    assert as_marketer.post("/api/v1/contacts", {"phone": PHONE}, format="json").status_code == 201

    response = as_marketer.post("/api/v1/contacts", {"phone": PHONE, "wa_id": "4915199999999"}, format="json")

    assert response.status_code == 400
    assert Contact.objects.get().wa_id == "4915123456789"


@pytest.mark.parametrize(
    ("phone", "wa_id"),
    [(PHONE, "4915123456789"), ("+5511987654321", "551187654321"), ("+525512345678", "5215512345678")],
    ids=["same-digits", "brazil-without-ninth-digit", "mexico-with-mobile-1"],
)
def test_a_wa_id_whatsapp_really_uses_for_the_number_is_accepted(as_marketer, phone, wa_id):
    response = as_marketer.post("/api/v1/contacts", {"phone": phone, "wa_id": wa_id}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["wa_id"] == wa_id
