"""The benchmark's autovacuum stand-in does what autovacuum would on a server that runs without it."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.autovacuum import AutovacuumStandIn


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_table_past_autovacuum_s_thresholds_is_vacuumed_and_analysed_and_one_below_is_left_alone():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE standin_churned (id int PRIMARY KEY, v int)")
        cursor.execute("CREATE TABLE standin_quiet (id int PRIMARY KEY)")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO standin_churned SELECT g, 0 FROM generate_series(1, 2000) AS g")
            cursor.execute("UPDATE standin_churned SET v = 1")  # 2,000 dead rows: past 50 + 20% of an empty table
            cursor.execute("INSERT INTO standin_quiet VALUES (1), (2)")  # 2 changes: below every threshold
            cursor.execute("SELECT pg_stat_force_next_flush()")
        connection.close()  # the statistics of this session reach the server when it ends

        stand_in = AutovacuumStandIn(_database_url())
        stand_in.run_once()

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname LIKE 'standin_%%' ORDER BY relname"
            )
            counts = cursor.fetchall()
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'standin_churned'")
            (estimated_rows,) = cursor.fetchone()
        assert counts == [("standin_churned", 1, 1), ("standin_quiet", 0, 0)]
        assert estimated_rows == 2000  # the planner now knows the table's size
        assert stand_in.vacuums >= 1 and stand_in.analyzes >= 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS standin_churned, standin_quiet")
