"""Group commit of webhook deliveries (whatsapp.group_commit) on the real PostgreSQL, with real threads.

Each request thread's delivery must be committed when ``store`` returns (the 200 follows): checked from
that thread's own database connection, a session other than the flusher's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import timezone

from whatsapp.group_commit import DeliveryGroupCommit
from whatsapp.models import WebhookDelivery

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def group_commit() -> Iterator[tuple[DeliveryGroupCommit, list[int]]]:
    drains: list[int] = []
    committer = DeliveryGroupCommit(table=WebhookDelivery._meta.db_table, after_commit=lambda: drains.append(1))
    try:
        yield committer, drains
    finally:
        committer.stop()  # closes the flusher's connection: the test database can be dropped


def _in_threads(count: int, store) -> list:
    """Run ``store(index)`` in ``count`` threads released together; their results (or exceptions) by index."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = store(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _store(committer: DeliveryGroupCommit, body: str) -> tuple[int, bool]:
    digest = hashlib.sha256(body.encode()).hexdigest()
    return committer.store(digest=digest, body=body, received_at=timezone.now(), foreign_items=0)


def test_each_delivery_is_committed_when_its_store_returns(group_commit):
    committer, drains = group_commit

    def store_and_look(index: int) -> tuple[int, bool, bool]:
        delivery_id, pending = _store(committer, f'{{"n": {index}}}')
        # This thread's own connection: sees only what the flusher committed.
        return delivery_id, pending, WebhookDelivery.objects.filter(pk=delivery_id, body=f'{{"n": {index}}}').exists()

    results = _in_threads(24, store_and_look)

    assert all(seen and pending for _, pending, seen in results), results
    assert len({delivery_id for delivery_id, _, _ in results}) == 24
    assert WebhookDelivery.objects.count() == 24
    assert 1 <= len(drains) <= 24  # a drain is asked for once per group, not per delivery


def test_the_same_body_in_several_requests_is_one_row_counting_the_repeats(group_commit):
    committer, _ = group_commit

    results = _in_threads(12, lambda _: _store(committer, '{"same": true}'))

    assert len({delivery_id for delivery_id, _ in results}) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.repeat_count == 11
    _store(committer, '{"same": true}')  # once more, in a later group
    delivery.refresh_from_db()
    assert delivery.repeat_count == 12


def test_a_delivery_the_database_refuses_fails_alone(group_commit):
    committer, _ = group_commit

    # PostgreSQL text cannot hold NUL: that delivery fails (its request answers 500, Meta sends it again).
    results = _in_threads(10, lambda index: _store(committer, '{"bad": "\x00"}' if index == 3 else f'{{"n": {index}}}'))

    assert isinstance(results[3], Exception)
    assert all(isinstance(result, tuple) for index, result in enumerate(results) if index != 3), results
    assert WebhookDelivery.objects.count() == 9


def test_a_processed_delivery_arriving_again_is_not_pending(group_commit):
    committer, _ = group_commit
    delivery_id, pending = _store(committer, '{"n": 1}')
    assert pending
    WebhookDelivery.objects.filter(pk=delivery_id).update(processed_at=timezone.now())

    assert _store(committer, '{"n": 1}') == (delivery_id, False)
