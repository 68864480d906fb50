"""Sending numbers in the admin: administrators add them; marketers pick one in the builder."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from core.models import AuditEntry
from tests.factories import SECOND_DISPLAY_NUMBER, SECOND_NUMBER_ID, client_for, second_number_add
from tests.ui.test_builder import BUILD, form_data
from whatsapp.models import SendingNumber
from whatsapp.numbers import is_our_phone_number_id

pytestmark = pytest.mark.django_db

ADD = "/admin/whatsapp/sendingnumber/add/"


def test_an_administrator_adds_a_number_and_its_webhooks_count_as_ours(superuser):
    assert not is_our_phone_number_id(SECOND_NUMBER_ID)

    response = client_for(superuser).post(ADD, {
        "phone_number_id": SECOND_NUMBER_ID, "display_phone_number": SECOND_DISPLAY_NUMBER, "label": "Outlet brand",
        "business_account_id": "", "throughput": "200", "active": "on",
    })  # fmt: skip

    assert response.status_code == 302
    number = SendingNumber.objects.get()
    assert (number.throughput, number.marketing_messages_api) == (200, False)
    assert is_our_phone_number_id(SECOND_NUMBER_ID)  # at once, in this process
    assert AuditEntry.objects.filter(action="whatsapp.sending_number_save", object_id=str(number.pk)).exists()


def test_a_marketer_cannot_see_or_change_the_numbers(marketer):
    second_number_add()
    client = client_for(marketer)

    assert client.get("/admin/whatsapp/sendingnumber/").status_code == 403
    assert client.get(ADD).status_code == 403


def test_the_builder_offers_the_numbers_and_keeps_the_one_chosen(marketer, spring_sale, everyone):
    client = client_for(marketer)
    assert 'name="phone_number_id"' not in client.get(BUILD).content.decode()  # one number: nothing to choose
    second_number_add()

    page = client.get(BUILD).content.decode()
    response = client.post(BUILD, form_data(spring_sale, everyone, phone_number_id=SECOND_NUMBER_ID))

    assert "WhatsApp number" in page and f'<option value="{SECOND_NUMBER_ID}">Outlet brand ({SECOND_DISPLAY_NUMBER})</option>' in page
    assert response.status_code == 302
    assert Campaign.objects.get().phone_number_id == SECOND_NUMBER_ID
    assert f'<option value="{SECOND_NUMBER_ID}" selected>' in client.get(response["Location"]).content.decode()


def test_the_approver_sees_which_number_the_campaign_goes_out_from(marketer, approver, spring_sale, everyone):
    second_number_add()
    client_for(marketer).post(BUILD, form_data(spring_sale, everyone, phone_number_id=SECOND_NUMBER_ID, action="submit"))
    campaign = Campaign.objects.get()

    page = client_for(approver).get(f"/admin/campaigns/campaign/{campaign.pk}/review/").content.decode()

    assert f"<tr><td>WhatsApp number</td><td>Outlet brand ({SECOND_DISPLAY_NUMBER})</td></tr>" in page


def test_an_opt_in_page_is_set_to_one_of_our_numbers_picked_by_name(superuser, optin_form):
    second_number_add()
    client = client_for(superuser)
    url = f"/admin/consent/optinform/{optin_form.pk}/change/"
    page = client.get(url).content.decode()
    assert f'<option value="{SECOND_NUMBER_ID}">Outlet brand ({SECOND_DISPLAY_NUMBER})</option>' in page

    form = {
        "business_name": optin_form.business_name, "slug": optin_form.slug, "is_active": "on", "purpose": optin_form.purpose_id,
        "country": "", "phone_number_id": SECOND_NUMBER_ID, "message_description": optin_form.message_description,
        "frequency": optin_form.frequency, "privacy_policy_url": optin_form.privacy_policy_url,
        "notice_text": optin_form.notice_text, "notice_version": optin_form.notice_version,
        "confirmation_template": "", "confirmation_template_language": "en_US",
    }  # fmt: skip
    assert client.post(url, form).status_code == 302
    optin_form.refresh_from_db()
    assert optin_form.phone_number_id == SECOND_NUMBER_ID
    refused = client.post(url, {**form, "phone_number_id": "999"})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
