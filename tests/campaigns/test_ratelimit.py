"""The send-rate token bucket in Redis: shared by every thread and process, blocked after throttling."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from campaigns.sending.throttle import bucket_back_off, bucket_take, bucket_take_at

pytestmark = pytest.mark.redis


@pytest.fixture
def number() -> str:
    return f"test-{uuid.uuid4().hex}"  # a bucket of its own


def test_a_burst_gets_at_most_the_bucket_and_the_rest_waits(settings, number):
    settings.CAMPAIGN_SEND_RATE = 5
    with ThreadPoolExecutor(max_workers=20) as pool:
        granted = list(pool.map(lambda _: bucket_take(number, timeout=0), range(20)))
    assert granted.count(True) == 5  # one second's worth, however many senders ask at once
    assert bucket_take(number, timeout=1.0)  # a token comes back at the rate


def test_a_throughput_error_blocks_every_sender_for_a_while(settings, number):
    settings.CAMPAIGN_SEND_RATE = 1000
    assert bucket_take(number, timeout=0)
    bucket_back_off(number, seconds=30)
    assert not bucket_take(number, timeout=0)
    assert bucket_take(f"{number}-other", timeout=0)  # other numbers are not affected


def test_no_second_ever_holds_more_sends_than_the_rate(settings, number):
    settings.CAMPAIGN_SEND_RATE = 5
    first = [bucket_take_at(number, timeout=0) for _ in range(5)]
    time.sleep(0.5)
    # A token bucket would have refilled half its burst by now: 7 sends within one second.
    assert all(first) and not bucket_take(number, timeout=0)
    later = [bucket_take_at(number, timeout=2.0) for _ in range(5)]
    moments = first + later
    assert all(moments)
    assert all(moments[i + 5] - moments[i] >= 1.0 for i in range(5))  # on the limiter's own clock
