"""Admin list pages over very large tables (a million contacts, a ledger of millions of entries)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """For large tables: PostgreSQL's row estimate for the unfiltered list, an exact count otherwise.

    An exact COUNT(*) of millions of rows costs seconds on every page view; the page numbers only
    need the order of magnitude. Filtered lists (a phone search, a filter) are small and counted.
    """

    @cached_property
    def count(self) -> int:
        query, model = getattr(self.object_list, "query", None), getattr(self.object_list, "model", None)
        if connection.vendor == "postgresql" and query is not None and model is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > 10000:
                return int(row[0])
        return super().count
