"""An inbound STOP holds the business-wide chain locks (audit log, consent ledger) only for its own writes.

From those locks to the commit every other consent change of the business waits, whoever it is for:
under a campaign sending at full rate, each statement run meanwhile is paid by every STOP queued
behind (issue 16: STOPs waited on the audit log's head for most of their answer time).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaigns.models import Message
from consent.models import ConsentEvent, ConsentState, ConsentStatus, LedgerHead, Suppression
from consent.selectors import contact_consent_status
from consent.services import number_is_suppressed
from conversations.models import InboundMessage
from core.models import AuditEntry, AuditHead
from tests.factories import contacts_create, payload, post_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# What an opt-out must write while it holds the chains: the ledger event and head, the person's
# state, the suppression, the audit entry and head; then the savepoints around it are released and the transaction commits.
WRITES_UNDER_THE_CHAINS = tuple(
    f'"{model._meta.db_table}"'
    for model in (ConsentEvent, LedgerHead, ConsentState, Suppression, AuditEntry, AuditHead)
)


def test_an_inbound_stop_runs_only_its_ledger_and_audit_writes_under_the_chain_locks():
    (ana,) = contacts_create(1)
    stop = payload("inbound_text_stop.json", {"4915123456789": ana.phone.lstrip("+"), "wamid.ABC": "wamid.ANA"})

    with CaptureQueriesContext(connection) as queries:
        assert post_webhook(Client(), stop).status_code == 200

    statements = [query["sql"] for query in queries.captured_queries]
    chains_locked = next(
        index for index, sql in enumerate(statements) if AuditHead._meta.db_table in sql and "FOR UPDATE" in sql
    )
    under_the_chains = statements[chains_locked + 1 :]
    others = [
        sql for sql in under_the_chains
        if not sql.startswith(("RELEASE SAVEPOINT", "COMMIT")) and not any(table in sql for table in WRITES_UNDER_THE_CHAINS)
    ]  # fmt: skip
    assert others == [], "statements the chains' locks wait for without needing them"
    assert LedgerHead._meta.db_table in statements[chains_locked], "both heads are locked in one round trip"
    print("\n".join(sql[:110] for sql in statements))
    assert len(under_the_chains) <= 9, under_the_chains

    # The same outcome as before: opted out, suppressed, answered with the confirmation.
    assert contact_consent_status(ana) == ConsentStatus.OPTED_OUT and number_is_suppressed(ana.phone)
    inbound = InboundMessage.objects.get(wamid="wamid.ANA")
    assert inbound.keyword_action == "opt_out" and inbound.answered
    assert Message.objects.filter(contact=ana, kind=Message.Kind.REPLY, body__contains="no longer receive").exists()
