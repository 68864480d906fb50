"""How the scale-out benchmark counts: the busiest second, sends per group, duplicates and losses."""

from __future__ import annotations

from bench.limiter import busiest_window
from bench.scaleout import duplicates_and_lost, per_second_counts, sent_by_campaign


def test_the_busiest_second_is_the_fullest_sliding_window_not_a_calendar_second():
    # 3 grants at the end of second 10 and 3 at the start of second 11: 3 per calendar second, 6 within one second.
    moments = [10.7, 10.8, 10.9, 11.1, 11.2, 11.3, 13.0]

    assert per_second_counts(moments) == [3, 3, 0, 1]
    assert busiest_window(moments) == 6


def test_a_window_is_half_open_so_grants_exactly_a_second_apart_do_not_share_it():
    assert busiest_window([1.0, 2.0, 3.0]) == 1
    assert busiest_window([]) == 0
    assert per_second_counts([]) == []


def test_a_groups_sends_are_the_sum_of_its_batch_reports_for_that_campaign_only():
    log = "\n".join([
        "2026-12-01 02:21:18,692 INFO campaigns.sending.dispatcher campaign 2 batch: "
        "BatchReport(claimed=50, sent=48, skipped=2, deferred=0, failed=0, unknown=0, stopped='')",
        "2026-12-01 02:21:19,001 INFO campaigns.sending.dispatcher campaign 2 batch: "
        "BatchReport(claimed=50, sent=50, skipped=0, deferred=0, failed=0, unknown=0, stopped='')",
        "2026-12-01 02:21:19,101 INFO campaigns.sending.dispatcher campaign 12 batch: "
        "BatchReport(claimed=50, sent=50, skipped=0, deferred=0, failed=0, unknown=0, stopped='')",
        "2026-12-01 02:21:19,200 INFO celery.worker Task campaigns.tasks.campaign_dispatch_task succeeded",
    ])  # fmt: skip

    assert sent_by_campaign(log, 2) == 98
    assert sent_by_campaign(log, 3) == 0


def test_a_message_accepted_twice_is_a_duplicate_and_one_never_accepted_is_lost():
    accepted = ["msg:1", "msg:2", "msg:2", "msg:99"]  # msg:99 belongs to another campaign

    assert duplicates_and_lost([1, 2, 3], accepted) == (1, 1)
    assert duplicates_and_lost([1, 2], ["msg:2", "msg:1"]) == (0, 0)
