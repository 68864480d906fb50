"""The outcome table: what each answer from WhatsApp (or its absence) does to a message row.

Pure: no database, no network. The rule under test: a call that may have reached WhatsApp is never
sent again; one that certainly did not leave is retried; the API's own trouble spends no attempt.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from campaigns.models import Message, MessageStatus
from campaigns.sending.outcomes import Outcome, outcome_apply
from whatsapp.client import SendResult, WhatsAppError

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def sending(kind: str = Message.Kind.CAMPAIGN, attempts: int = 1) -> Message:
    return Message(id=uuid.uuid4(), kind=kind, status=MessageStatus.SENDING, attempts=attempts, claim_token=uuid.uuid4())


def meta_error(code: int, http_status: int = 400) -> WhatsAppError:
    return WhatsAppError(f"error {code}", code=code, http_status=http_status, reached_provider=False)


def test_an_accepted_send_keeps_its_message_id_and_ends_the_claim():
    message = sending()
    outcome_apply(message, Outcome(message, result=SendResult(wamid="wamid.OK", wa_id="4915123456789", message_status="accepted")), NOW)
    assert (message.status, message.wamid, message.claim_token, message.accepted_at) == (MessageStatus.ACCEPTED, "wamid.OK", None, NOW)


@pytest.mark.parametrize("kind", [Message.Kind.CAMPAIGN, Message.Kind.REPLY, Message.Kind.CONFIRMATION, Message.Kind.TEST])
def test_a_call_that_may_have_reached_whatsapp_is_unknown_never_queued_again(kind):
    message = sending(kind)
    cut_after_writing = WhatsAppError("read timed out", http_status=None, reached_provider=True)
    outcome_apply(message, Outcome(message, error=cut_after_writing), NOW)
    assert message.status == MessageStatus.UNKNOWN and message.attempts == 1 and message.send_after is None


def test_a_bare_5xx_without_metas_body_is_unknown():
    message = sending()
    proxy_502 = WhatsAppError("Bad Gateway", http_status=502, reached_provider=True)
    outcome_apply(message, Outcome(message, error=proxy_502), NOW)
    assert message.status == MessageStatus.UNKNOWN


def test_metas_own_transient_error_is_retried_later_with_the_attempt_spent():
    message = sending(attempts=1)
    outcome_apply(message, Outcome(message, error=meta_error(131000, http_status=500)), NOW)
    assert message.status == MessageStatus.QUEUED and message.attempts == 1 and message.send_after > NOW


def test_a_throughput_error_requeues_without_spending_the_attempt():
    message = sending(attempts=2)
    outcome_apply(message, Outcome(message, error=meta_error(130429)), NOW)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 1)


def test_a_send_that_never_started_is_queued_again_without_spending_the_attempt():
    message = sending(attempts=1)
    outcome_apply(message, Outcome(message, attempted=False), NOW)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 0)


def test_the_last_attempt_fails_the_message(settings):
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    message = sending(attempts=3)
    outcome_apply(message, Outcome(message, error=meta_error(131000, http_status=500)), NOW)
    assert (message.status, message.failed_at) == (MessageStatus.FAILED, NOW)


def test_a_recipient_error_fails_only_that_message():
    message = sending()
    problem, _ = outcome_apply(message, Outcome(message, error=meta_error(131026)), NOW)
    assert message.status == MessageStatus.FAILED and problem is None


def test_a_template_error_pauses_the_campaign_and_puts_the_message_back():
    message = sending(attempts=1)
    problem, error = outcome_apply(message, Outcome(message, error=meta_error(132001)), NOW)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 0)
    assert problem and "132001" in problem and error.code == 132001


def test_a_template_error_fails_a_service_message_which_has_no_campaign_to_pause():
    message = sending(Message.Kind.CONFIRMATION)
    problem, _ = outcome_apply(message, Outcome(message, error=meta_error(132001)), NOW)
    assert message.status == MessageStatus.FAILED and problem is None


def test_a_row_a_status_webhook_already_settled_keeps_its_status():
    message = sending()
    message.status = MessageStatus.DELIVERED
    outcome_apply(message, Outcome(message, error=WhatsAppError("read timed out", reached_provider=True)), NOW)
    assert message.status == MessageStatus.DELIVERED
