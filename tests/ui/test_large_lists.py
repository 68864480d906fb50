"""List pages over a million contacts do not count every row on every view."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import client_for, contacts_create

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def pretend_rows(table: str, rows: int) -> None:
    """What PostgreSQL's statistics say after ANALYZE of a table that large (rolled back with the test)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pg_class SET reltuples = %s WHERE relname = %s", [rows, table])


@pytest.mark.parametrize(("url", "table"), [("/admin/consent/contact/", "consent_contact"), ("/admin/consent/consentevent/", "consent_consentevent")])
def test_the_unfiltered_list_takes_the_row_estimate_instead_of_counting(marketer, url, table):
    contacts_create(3)
    pretend_rows(table, 1_000_000)
    client = client_for(marketer)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    assert "1000000 " in page
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and f'FROM "{table}"' in q["sql"] and "WHERE" not in q["sql"]]
    # A search is small and counted exactly.
    found = client.get(url, {"q": "Person 1"}).content.decode()
    assert "1000000 " not in found
