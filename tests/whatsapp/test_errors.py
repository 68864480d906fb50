"""The one table from Meta error code to what the caller must do, code by code."""

from __future__ import annotations

import pytest

from whatsapp.client import (
    ERROR_CODES,
    UNKNOWN_CODE_PAUSE_AFTER,
    ErrorScope,
    WhatsAppError,
    classify_error,
    never_left,
)

T, TP, PR, HB = ErrorScope.TRANSIENT, ErrorScope.THROUGHPUT, ErrorScope.PAIR_RATE, ErrorScope.HELD_BACK
R, C, A = ErrorScope.RECIPIENT, ErrorScope.CAMPAIGN, ErrorScope.ACCOUNT

# Every code of the shared Cloud API notes (including their November 2026 corrections).
TABLE = [
    (1, T), (2, T), (131000, T), (131016, T), (131057, T),
    (4, TP), (80007, TP), (130429, TP),
    (131056, PR),
    (131049, HB),
    (131026, R), (131047, R), (131050, R), (131051, R), (131052, R), (131053, R),
    (130472, R), (130497, R), (131030, R), (131021, R),
    (131008, C), (131009, C), (100, C),
    (132000, C), (132001, C), (132005, C), (132007, C), (132008, C), (132012, C), (132015, C), (132016, C),
    (132068, C), (132069, C),
    (131048, A), (131042, A), (131063, A), (131064, A), (131037, A), (3, A),
    (133010, A), (190, A), (0, A), (10, A), (200, A), (250, A), (299, A), (368, A), (131031, A),
    # Marketing Messages API only: template not marketing; template still syncing; not onboarded / not eligible.
    (134100, C), (134101, T), (131055, A), (134102, A),
]  # fmt: skip


@pytest.mark.parametrize(("code", "scope"), TABLE, ids=[str(code) for code, _ in TABLE])
def test_each_meta_code_has_its_scope(code, scope):
    assert classify_error(code) is scope
    assert classify_error(code, 400) is scope
    error = WhatsAppError("x", code=code)
    assert error.scope is scope and error.is_known


def test_every_code_in_the_table_explains_itself_to_the_admin():
    for code, (scope, explanation) in ERROR_CODES.items():
        assert isinstance(scope, ErrorScope)
        assert len(explanation) > 20, code
        assert WhatsAppError("x", code=code).explanation == explanation


def test_the_explanation_carries_metas_details():
    error = WhatsAppError.from_error_object(
        {"code": 131042, "message": "(#131042) Business eligibility payment issue",
         "error_data": {"details": "No payment method attached to the account."}}
    )  # fmt: skip
    assert error.explanation.startswith("Payment problem")
    assert error.explanation.endswith("(Meta: No payment method attached to the account.)")


@pytest.mark.parametrize(
    ("code", "http_status", "scope"),
    [(None, 500, T), (None, 502, T), (None, None, T), (None, 401, A), (None, 403, A), (999999, 400, T), (300, 400, T)],
)
def test_failures_without_a_known_code(code, http_status, scope):
    assert classify_error(code, http_status) is scope


def test_unknown_codes_are_retried_but_flagged_so_the_pipeline_can_pause_the_campaign():
    error = WhatsAppError("(#139999) Something new", code=139999)

    assert error.retry_later and not error.is_known
    assert error.unknown_code == 139999
    assert "139999" in error.explanation and "paused" in error.explanation
    assert UNKNOWN_CODE_PAUSE_AFTER >= 2
    known = WhatsAppError("x", code=131026)
    assert known.is_known and known.unknown_code is None
    transport = WhatsAppError("read timeout")
    assert transport.is_known and transport.unknown_code is None  # a timeout is no unknown Meta code


FLAGS = ("retry_later", "recipient_final", "held_back", "stops_campaign", "stops_account",
         "records_platform_optout", "is_throughput", "is_pair_rate_limit")  # fmt: skip


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (131026, {"recipient_final"}),
        (130472, {"recipient_final"}),
        (131050, {"recipient_final", "records_platform_optout"}),
        (131049, {"held_back"}),
        (131057, {"retry_later"}),
        (130429, {"retry_later", "is_throughput"}),
        (4, {"retry_later", "is_throughput"}),
        (80007, {"retry_later", "is_throughput"}),
        (131056, {"retry_later", "is_pair_rate_limit"}),
        (132015, {"stops_campaign"}),
        (132069, {"stops_campaign"}),
        (190, {"stops_campaign", "stops_account"}),
        (131042, {"stops_campaign", "stops_account"}),
        (131063, {"stops_campaign", "stops_account"}),
        (131048, {"stops_campaign", "stops_account"}),
    ],
)
def test_what_each_error_tells_the_caller(code, expected):
    error = WhatsAppError("x", code=code)
    assert {flag for flag in FLAGS if getattr(error, flag)} == expected


def test_an_error_object_from_a_status_webhook_keeps_metas_fields():
    error = WhatsAppError.from_error_object(
        {"code": 131050, "title": "User has stopped receiving marketing messages", "message": "stopped",
         "error_data": {"details": "The user chose to stop."}, "error_subcode": 7, "fbtrace_id": "AbC"}
    )  # fmt: skip
    assert (error.code, error.subcode, error.title, error.details, error.trace_id) == (
        131050,
        7,
        "User has stopped receiving marketing messages",
        "The user chose to stop.",
        "AbC",
    )
    assert error.records_platform_optout
    assert not error.reached_provider and never_left(error)  # Meta reported it: the outcome is known


def test_an_error_of_unknown_origin_counts_as_possibly_accepted():
    error = WhatsAppError("Unexpected error: KeyError")
    assert error.reached_provider and not never_left(error)


def test_an_error_with_metas_code_was_refused_by_meta():
    assert not WhatsAppError("(#131050) stopped", code=131050, http_status=400).reached_provider
