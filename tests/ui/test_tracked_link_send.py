"""The sender puts each message's signed click token into the template's link button."""

from __future__ import annotations

import pytest

from campaigns.models import Click, Message
from tests.campaigns.test_sending import eager, run  # noqa: F401 (eager: autouse fixture, tasks run in this process)
from tests.factories import client_for, contacts_create

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres, pytest.mark.redis]


def test_each_message_carries_its_own_signed_token_and_a_click_on_it_counts_for_it(sandbox, spring_sale, everyone, marketer, approver):
    contacts_create(2)
    campaign = run(spring_sale, everyone, marketer, approver, tracked_url="https://shop.example.com/spring")
    sends = {send["callback_data"]: send for send in sandbox.sends()}
    assert len(sends) == 2
    tokens = {}
    for message in Message.objects.filter(campaign=campaign):
        (button,) = [c for c in sends[message.callback_data]["components"] if c.get("sub_type") == "url"]
        assert (button["sub_type"], button["index"]) == ("url", "0")
        token = button["parameters"][0]["text"]
        assert message.pk.hex not in token and len(token) < 100
        tokens[message.pk] = token
    assert len(set(tokens.values())) == 2

    # The person taps the button: WhatsApp opens <our base>/r/<token>.
    clicked_id, token = next(iter(tokens.items()))
    response = client_for().get(f"/r/{token}")
    assert (response.status_code, response["Location"]) == (302, "https://shop.example.com/spring")
    assert list(Click.objects.values_list("message_id", flat=True)) == [clicked_id]
