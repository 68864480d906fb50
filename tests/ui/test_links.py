"""The public links a person receives: the tracked link /r/<token> and the unsubscribe link /u/<token>."""

from __future__ import annotations

import pytest

from campaigns.analytics import campaign_clicks
from campaigns.models import Click
from campaigns.tracking import click_token
from consent.models import ConsentEvent, ConsentStatus
from consent.selectors import contact_consent_status
from consent.services import number_is_suppressed
from consent.unsubscribe import unsubscribe_token, unsubscribe_url
from tests.factories import campaign_with_messages, client_for

pytestmark = pytest.mark.django_db


def test_a_click_is_recorded_and_redirected_to_the_campaigns_own_destination(spring_sale):
    campaign, (first, second) = campaign_with_messages(spring_sale, outcomes={"read": 2})
    client = client_for()
    for message in (first, first, second):
        response = client.get(f"/r/{click_token(message_id=message.pk, campaign_id=campaign.pk)}?next=https://evil.example/")
        assert response.status_code == 302
        assert response["Location"] == "https://shop.example.com/spring"
    assert campaign_clicks(campaign) == {"total": 3, "unique": 2}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature changed
        lambda token: ("B" if token[0] == "A" else "A") + token[1:],  # the message id changed
        lambda token: token.split(".")[0],  # no signature
        lambda token: "not-a-token",
    ],
    ids=["signature", "payload", "unsigned", "garbage"],
)
def test_a_forged_or_garbled_token_gets_a_plain_404_and_records_nothing(spring_sale, mangle):
    campaign, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    response = client_for().get(f"/r/{mangle(click_token(message_id=message.pk, campaign_id=campaign.pk))}")
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert not Click.objects.exists()


def test_a_token_signed_for_another_purpose_or_campaign_is_refused(spring_sale):
    campaign, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    other, _ = campaign_with_messages(spring_sale, outcomes={"read": 1}, name="Other")
    client = client_for()
    # A genuine token of this message, but naming another campaign (as if a token were made for it).
    assert client.get(f"/r/{click_token(message_id=message.pk, campaign_id=other.pk)}").status_code == 404
    # An unsubscribe token is signed with another salt: worthless here.
    assert client.get(f"/r/{unsubscribe_token(message.contact)}").status_code == 404
    assert not Click.objects.exists()


def test_a_campaign_without_a_tracked_link_has_nowhere_to_send_the_click(spring_sale):
    campaign, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1}, tracked_url="")
    assert client_for().get(f"/r/{click_token(message_id=message.pk, campaign_id=campaign.pk)}").status_code == 404


def test_click_redirects_are_rate_limited_per_address(spring_sale, settings):
    settings.CLICK_RATE_LIMIT_PER_MINUTE = 2
    campaign, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    url = f"/r/{click_token(message_id=message.pk, campaign_id=campaign.pk)}"
    client = client_for()
    assert [client.get(url).status_code for _ in range(3)] == [302, 302, 429]
    assert client_for().get(url).status_code == 302  # another address is not held up
    assert Click.objects.count() == 3


def test_the_unsubscribe_link_asks_first_and_records_the_opt_out_when_confirmed(spring_sale):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    contact = message.contact
    url = unsubscribe_url(contact)
    assert url.startswith("http://") and "/u/" in url
    path = url[url.index("/u/"):]
    client = client_for()
    client.cookies.clear()

    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Stop marketing messages?" in html and contact.phone[-2:] in html and contact.phone not in html
    assert contact_consent_status(contact) == ConsentStatus.OPTED_IN  # looking is not confirming

    confirmed = client.post(path)
    assert "You are unsubscribed" in confirmed.content.decode()
    event = ConsentEvent.objects.filter(contact=contact).latest("id")
    assert (event.action, event.source, event.note) == ("opt_out", "unsubscribe_link", "Confirmed on the unsubscribe page.")
    assert event.ip_address and event.page_url.endswith(path)
    assert contact_consent_status(contact) == ConsentStatus.OPTED_OUT and number_is_suppressed(contact.phone)

    # Again: nothing more to record.
    assert "You are unsubscribed" in client.get(path).content.decode()
    client.post(path)
    assert ConsentEvent.objects.filter(contact=contact, action="opt_out").count() == 1


def test_the_unsubscribe_confirmation_needs_the_csrf_token(spring_sale):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    from django.test import Client

    strict = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9")
    assert strict.post(f"/u/{unsubscribe_token(message.contact)}").status_code == 403
    assert contact_consent_status(message.contact) == ConsentStatus.OPTED_IN


def test_a_forged_unsubscribe_token_gets_a_404_and_the_page_is_rate_limited(spring_sale, settings):
    _, (message,) = campaign_with_messages(spring_sale, outcomes={"read": 1})
    token = unsubscribe_token(message.contact)
    client = client_for()
    forged = client.get(f"/u/{token[:-2]}xx")
    assert forged.status_code == 404 and "Link not found" in forged.content.decode()
    # Contact ids are sequential: the next contact's id under this contact's signature is refused.
    from core.tokens import token_sign

    next_id = token_sign((message.contact.pk + 1).to_bytes(8, "big"), salt="another purpose").split(".")[0]
    assert client.get(f"/u/{next_id}.{token.split('.')[1]}").status_code == 404
    settings.UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE = 1
    assert client.get(f"/u/{token}").status_code == 429
