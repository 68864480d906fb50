"""Real code paths log no full phone number and no secret: lines pass through the masking filter of the configured handler."""

from __future__ import annotations

import logging

import pytest

from consent.services import Evidence, consent_grant, contact_upsert
from core.logging import MaskPhoneNumbersFilter
from tests.factories import payload
from whatsapp.client import WhatsAppError, send_text

pytestmark = pytest.mark.django_db

PHONE = "+4915123456789"


def console_output(caplog) -> str:
    """What the configured console handler writes for the captured records (filters applied, then formatted)."""
    (console,) = [h for h in logging.getLogger().handlers if any(isinstance(f, MaskPhoneNumbersFilter) for f in h.filters)]
    return "\n".join(console.format(record) for record in caplog.records if console.filter(record))


@pytest.fixture
def opted_in():
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    consent_grant(contact=contact, source="web_form", evidence=Evidence(notice_text="Offers on WhatsApp"))
    return contact


def test_an_opt_out_by_whatsapp_reply_logs_the_contact_id_and_no_number(caplog, deliver, opted_in):  # noqa: F811
    caplog.set_level(logging.DEBUG)

    deliver(payload("inbound_text_stop.json"))

    output = console_output(caplog)
    assert f"consent opt_out for contact {opted_in.pk} via inbound_keyword" in output
    assert PHONE not in output and PHONE.lstrip("+") not in output


def test_an_opt_out_through_the_api_logs_no_number(caplog, api_client, marketer, opted_in):
    caplog.set_level(logging.DEBUG)

    response = api_client(marketer).post("/api/v1/consents", {"phone": PHONE, "action": "opt_out", "source": "api"}, format="json")

    assert response.status_code == 201
    output = console_output(caplog)
    assert f"consent opt_out for contact {opted_in.pk} via api" in output
    assert PHONE.lstrip("+") not in output


def test_a_number_that_does_reach_a_log_line_is_masked(caplog, deliver):  # noqa: F811
    """A sender whose WhatsApp id is no valid number is logged by id: the filter masks it."""
    caplog.set_level(logging.DEBUG)

    deliver(payload("inbound_image.json", {"4915123456789": "99912345678"}))

    output = console_output(caplog)
    assert "inbound WhatsApp id *********78 is not a valid phone number" in output
    assert "99912345678" not in output


def test_a_failing_call_to_whatsapp_logs_neither_the_access_token_nor_the_number(caplog, settings):
    settings.WHATSAPP_GRAPH_URL = "http://127.0.0.1:9"  # nothing listens there
    caplog.set_level(logging.DEBUG)

    with pytest.raises(WhatsAppError):
        send_text(to=PHONE.lstrip("+"), body="hello")

    output = console_output(caplog)
    assert "127.0.0.1:9" in output  # the call was logged
    assert settings.WHATSAPP_ACCESS_TOKEN not in output and PHONE.lstrip("+") not in output


def test_a_traceback_that_names_a_number_is_masked(caplog):
    caplog.set_level(logging.ERROR)

    try:
        raise RuntimeError(f"WhatsApp refused the send to {PHONE.lstrip('+')}")
    except RuntimeError:
        logging.getLogger("campaigns.sending").exception("send to %s failed", PHONE, stack_info=True)

    output = console_output(caplog)
    assert "Traceback (most recent call last)" in output and "RuntimeError: WhatsApp refused the send to ***********89" in output
    assert "send to +***********89 failed" in output and "Stack (most recent call last)" in output
    assert PHONE.lstrip("+") not in output
