"""The builder as the one way to a campaign: the template browser, warnings before submitting, a
read-only Build tab while sending, and the schedule of campaigns with their local-time windows."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Segment
from campaigns.services import campaign_create
from consent.models import Contact
from core.audit import Actor
from tests.factories import campaign_with_messages, client_for, contacts_create
from tests.ui.test_builder import BUILD, form_data
from whatsapp.models import MessageTemplate

pytestmark = pytest.mark.django_db


def _draft(author, template, segment, **fields) -> Campaign:
    return campaign_create(
        actor=Actor(user=author), name=fields.pop("name", "Spring"), template=template, segment=segment,
        parameters=[{"field": "name", "fallback": "there"}, {"value": "20%"}], tracked_url="https://shop.example.com/spring", **fields,
    )  # fmt: skip


def test_the_generic_add_form_leads_to_the_builder(marketer, support):
    response = client_for(marketer).get("/admin/campaigns/campaign/add/")
    assert response.status_code == 302 and response["Location"] == BUILD
    assert client_for(marketer).post("/admin/campaigns/campaign/add/", {"name": "x"})["Location"] == BUILD
    assert not Campaign.objects.exists()
    listing = client_for(marketer).get("/admin/campaigns/campaign/").content.decode()
    assert "Build a campaign" in listing and "Add campaign" not in listing
    assert client_for(support).get("/admin/campaigns/campaign/add/").status_code == 403


def test_the_template_browser_shows_each_usable_template_with_its_message(marketer, templates):
    MessageTemplate.objects.create(
        name="login_code", language="en_US", category=MessageTemplate.Category.AUTHENTICATION, status=MessageTemplate.Status.APPROVED,
        components=[{"type": "BODY", "text": "{{1}} is your code."}], parameter_names=["1"],
    )  # fmt: skip
    page = client_for(marketer).get(BUILD).content.decode()
    names = re.findall(r'id="template-\d+-name">([^<]+)<', page)
    # Approved marketing templates first, then utility ones; paused, rejected and one-time-code templates never.
    assert names[0] == "flash_offer (en_US)" and names[-2:] == ["optin_confirmation (en_US)", "order_shipped (en_US)"]
    assert "restock_alert (en_US)" not in names and "black_friday_teaser (en_US)" not in names and "login_code (en_US)" not in names
    cards = page.split('<label class="rt-template-card')[1:]
    order_shipped = cards[names.index("order_shipped (en_US)")]
    assert "Utility" in order_shipped and "not for promotions" in order_shipped
    spring = cards[names.index("spring_sale (en_US)")]
    # The message as written: placeholders unfilled, header, footer and buttons.
    assert "Hi {{1}}, our spring sale is on: {{2}} off everything until Sunday." in spring
    assert "Spring sale" in spring and "Reply STOP to unsubscribe" in spring and "Shop now" in spring and "Marketing" in spring


def test_submitting_to_no_one_warns_first_and_submits_only_when_confirmed(marketer, spring_sale):
    contacts_create(2)
    nobody = Segment.objects.create(name="Nobody", rules={"country": ["FR"]})
    client = client_for(marketer)
    response = client.post(BUILD, form_data(spring_sale, nobody, action="submit"))
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT  # saved, not submitted
    assert response["Location"] == f"/admin/campaigns/campaign/{campaign.pk}/build/?confirm=1#submit-warnings"
    page = client.get(response["Location"]).content.decode()
    assert "Saved, not submitted yet" in page
    assert "No one is in this segment now: the campaign would send nothing." in page
    assert 'value="submit_anyway"' in page and 'value="submit"' not in page

    client.post(f"/admin/campaigns/campaign/{campaign.pk}/build/", form_data(spring_sale, nobody, action="submit_anyway"))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PENDING_APPROVAL


def test_an_audience_without_consent_or_over_the_messaging_limit_warns_before_submit(marketer, spring_sale, everyone, settings):
    contacts_create(2, opted_in=False)
    page = client_for(marketer).get(f"/admin/campaigns/campaign/{_draft(marketer, spring_sale, everyone).pk}/build/").content.decode()
    assert "None of the segment&#x27;s 2 people can receive it now (2 never opted in): the campaign would send nothing." in page

    Contact.objects.all().delete()
    contacts_create(3)
    settings.WHATSAPP_MESSAGING_LIMIT = 2
    campaign = Campaign.objects.get()
    client = client_for(marketer)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/build/").content.decode()
    assert "3 recipients exceed the account&#x27;s messaging limit of 2 people per 24 hours" in page
    assert "3 people are more than the account&#x27;s messaging limit of 2 a day" in page  # beside the count, too
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/build/", form_data(spring_sale, everyone, action="submit"))
    assert Campaign.objects.get().status == Campaign.Status.DRAFT


def test_people_held_back_by_the_frequency_caps_are_named_before_submit(marketer, spring_sale, everyone):
    campaign_with_messages(spring_sale, outcomes={"read": 2})  # both had today's one message already
    contacts_create(1)
    draft = _draft(marketer, spring_sale, everyone, name="Second")
    page = client_for(marketer).get(f"/admin/campaigns/campaign/{draft.pk}/build/").content.decode()
    assert "2 of them already had as many messages as the frequency caps allow" in page


def test_a_campaign_without_warnings_is_submitted_at_once(marketer, spring_sale, everyone):
    contacts_create(2)
    response = client_for(marketer).post(BUILD, form_data(spring_sale, everyone, action="submit"))
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.PENDING_APPROVAL
    assert response["Location"] == f"/admin/campaigns/campaign/{campaign.pk}/review/"


def test_the_build_tab_of_a_sending_campaign_is_read_only_until_paused(marketer, spring_sale):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"queued": 2}, author=marketer)
    client = client_for(marketer)
    url = f"/admin/campaigns/campaign/{campaign.pk}/build/"
    page = client.get(url).content.decode()
    assert "This campaign is sending: its settings can't change while messages go out." in page
    assert '<fieldset class="rt-build-fields" disabled' in page and "Pause to edit" in page
    assert 'value="save"' not in page and 'value="submit"' not in page
    response = client.post(url, form_data(spring_sale, campaign.segment, param_1_key="90%"), follow=True)
    assert "cannot be changed here" in response.content.decode()
    assert Campaign.objects.get().parameters[1] == {"value": "20%"}

    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/pause/", {"next": url}, follow=True)
    assert response.redirect_chain[-1][0] == url
    page = response.content.decode()
    assert Campaign.objects.get().status == Campaign.Status.PAUSED
    assert "Pause to edit" not in page and "disabled" not in page.split('class="rt-build-fields"')[1].split(">")[0]
    client.post(url, form_data(spring_sale, campaign.segment, param_1_key="90%"))
    campaign.refresh_from_db()
    assert campaign.parameters[1] == {"value": "90%"} and campaign.status == Campaign.Status.DRAFT  # a change needs a new approval


def test_a_finished_campaign_offers_a_clone_instead(marketer, spring_sale):
    campaign, _ = campaign_with_messages(spring_sale, outcomes={"read": 1}, status=Campaign.Status.COMPLETED, author=marketer)
    client = client_for(marketer)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/build/").content.decode()
    assert "This campaign is completed: it can't change any more." in page and "Clone as a new draft" in page
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/lifecycle/clone/")
    clone = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == f"/admin/campaigns/campaign/{clone.pk}/build/"  # straight into the builder


def test_the_schedule_lists_campaigns_by_day_with_their_local_time_windows(marketer, approver, spring_sale, everyone):
    contacts_create(2, time_zone="Europe/Berlin")
    contacts_create(1, start=10, time_zone="America/New_York")
    start = (timezone.now() + timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    _draft(marketer, spring_sale, everyone, name="Morning greetings", send_at=start, local_time=time(9, 0))
    _draft(marketer, spring_sale, everyone, name="No date yet")  # a draft without a start is not scheduled
    pending = _draft(marketer, spring_sale, everyone, name="When approved")
    Campaign.objects.filter(pk=pending.pk).update(status=Campaign.Status.PENDING_APPROVAL)

    home = client_for(approver).get("/admin/").content.decode()
    assert 'href="/admin/campaigns/campaign/schedule/"' in home
    page = client_for(approver).get("/admin/campaigns/campaign/schedule/").content.decode()
    assert "No date yet" not in page
    assert page.index("Starts as soon as it is approved") < page.index("When approved") < page.index(f"{start:%A %d %B %Y}")
    window = page.split("Morning greetings")[1].split('class="rt-window">')[1].split("</td>")[0]
    # 09:00 comes first in Berlin (08:00 UTC), last in New York (14:00 UTC); the page shows UTC.
    assert re.sub(r"\s+", " ", window).strip() == (
        f"At 09:00 local time: from {start:%d %b} 08:00 (Europe/Berlin) to {start:%d %b} 14:00 (America/New_York), 2 time zones"
    )


def test_the_preview_of_a_rich_template_shows_what_is_left_in_words_never_an_error(marketer, templates, everyone):
    (ana,) = contacts_create(1)
    flash = templates[("flash_offer", "en_US")]
    client = client_for(marketer)

    def preview(**changes) -> dict:
        data = form_data(flash, everyone, preview_contact=ana.pk, param_1_source="value", param_1_key="FLASH25", **changes)
        return client.post("/admin/campaigns/campaign/build/preview/", data).json()

    started = preview(parameters_more='{"header": {"image": {"link": "http://insecure.example/a.jpg"}}}')
    assert started["preview"]["body"] == "Good news, Person 0! Use code FLASH25 to get 25% off everything."
    assert started["note"] == (
        "Still to fill: header image: WhatsApp fetches media from a public https:// address; "
        "coupon code: no value chosen yet; offer expiry: no value chosen yet."
    )
    assert [b["code"] for b in started["preview"]["buttons"] if b["type"] == "copy_code"] == ["[missing coupon code]"]
    assert "parameters" not in started["note"]  # no path into the JSON

    broken = preview(parameters_more='{"header": ')
    assert broken["preview"]["body"].startswith("Good news, Person 0!")
    assert broken["note"].endswith("; the header, coupon, offer and cards box: not valid JSON.")

    done = preview(parameters_more=(
        '{"header": {"image": {"link": "https://cdn.example.com/a.jpg"}}, "coupon_code": {"value": "FLASH25"},'
        ' "limited_time_offer": {"expires_at": "2030-01-01T00:00:00Z"}}'
    ))  # fmt: skip
    assert done["note"] == "" and done["preview"]["header_media"] == {"kind": "image", "link": "https://cdn.example.com/a.jpg"}
