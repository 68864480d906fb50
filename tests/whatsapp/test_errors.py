"""The one table from Meta error code to what the caller must do, code by code."""

from __future__ import annotations

import pytest

from whatsapp.client import ErrorScope, WhatsAppError, classify_error

T, R, C, A = ErrorScope.TRANSIENT, ErrorScope.RECIPIENT, ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT

# Every code of the table in the shared Cloud API notes.
TABLE = [
    (1, T), (2, T), (131000, T), (131016, T),
    (4, T), (80007, T), (130429, T), (131056, T),
    (131048, A),
    (131026, R), (131047, R), (131049, R), (131050, R), (131051, R), (131052, R), (131053, R),
    (131008, C), (131009, C), (100, C),
    (132000, C), (132001, C), (132005, C), (132007, C), (132012, C), (132015, C), (132016, C),
    (133010, A), (190, A), (0, A), (10, A), (200, A), (250, A), (299, A), (368, A), (131031, A),
]  # fmt: skip


@pytest.mark.parametrize(("code", "scope"), TABLE, ids=[str(code) for code, _ in TABLE])
def test_each_meta_code_has_its_scope(code, scope):
    assert classify_error(code) is scope
    assert classify_error(code, 400) is scope
    assert WhatsAppError("x", code=code).scope is scope


@pytest.mark.parametrize(
    ("code", "http_status", "scope"),
    [(None, 500, T), (None, 502, T), (None, None, T), (None, 401, A), (None, 403, A), (999999, 400, T), (300, 400, T)],
)
def test_failures_without_a_known_code(code, http_status, scope):
    assert classify_error(code, http_status) is scope


def test_unknown_codes_are_transient_but_flagged_so_the_caller_can_give_up():
    error = WhatsAppError("new kind of error", code=999999)
    assert error.retry_later and not error.is_known
    assert WhatsAppError("x", code=131026).is_known


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (131026, {"recipient_final"}),
        (131050, {"recipient_final", "records_platform_optout"}),
        (130429, {"retry_later", "is_throughput"}),
        (4, {"retry_later", "is_throughput"}),
        (80007, {"retry_later", "is_throughput"}),
        (131056, {"retry_later", "is_pair_rate_limit"}),
        (132015, {"stops_campaign"}),
        (190, {"stops_campaign", "stops_account"}),
        (131048, {"stops_campaign", "stops_account"}),
    ],
)
def test_what_each_error_tells_the_caller(code, expected):
    error = WhatsAppError("x", code=code)
    flags = {"retry_later", "recipient_final", "stops_campaign", "stops_account", "records_platform_optout", "is_throughput", "is_pair_rate_limit"}
    assert {flag for flag in flags if getattr(error, flag)} == expected


def test_an_error_object_from_a_status_webhook_keeps_metas_fields():
    error = WhatsAppError.from_error_object(
        {"code": 131050, "title": "User has stopped receiving marketing messages", "message": "stopped",
         "error_data": {"details": "The user chose to stop."}, "error_subcode": 7, "fbtrace_id": "AbC"}
    )  # fmt: skip
    assert (error.code, error.subcode, error.title, error.details, error.trace_id) == (
        131050, 7, "User has stopped receiving marketing messages", "The user chose to stop.", "AbC"
    )
    assert error.records_platform_optout
