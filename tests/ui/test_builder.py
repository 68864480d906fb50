"""The campaign builder: template, audience, values, tracked link, schedule; live preview; submit."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from consent.models import Contact
from tests.factories import client_for, contacts_create

pytestmark = pytest.mark.django_db

BUILD = "/admin/campaigns/campaign/build/"


def form_data(chosen_template, chosen_segment, **changes) -> dict:
    data = {
        "name": "Spring", "template": chosen_template.pk, "segment": chosen_segment.pk, "tracked_url": "https://shop.example.com/spring",
        "send_at": "", "local_time": "", "expires_at": "", "max_per_day": "", "max_per_week": "",
        "param_0_source": "field", "param_0_key": "name", "param_0_fallback": "there",
        "param_1_source": "value", "param_1_key": "20%",
        "action": "save",
    }  # fmt: skip
    data.update(changes)
    return data


def test_a_marketer_builds_a_draft_step_by_step(marketer, spring_sale, templates, everyone):
    contacts_create(3)
    client = client_for(marketer)
    page = client.get(BUILD).content.decode()
    # Only approved templates are offered, each telling the page its placeholders and link button.
    assert 'data-params="[&quot;1&quot;, &quot;2&quot;]" data-link="1"' in page.split(f'id="template-{spring_sale.pk}"')[1].split(">")[0]
    paused = templates[("restock_alert", "en_US")]
    assert f'id="template-{paused.pk}"' not in page

    response = client.post(BUILD, form_data(spring_sale, everyone, send_at="2030-05-01T10:00", max_per_day="1"))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/campaigns/campaign/{campaign.pk}/build/"
    assert (campaign.status, campaign.created_by, campaign.template, campaign.segment) == ("draft", marketer, spring_sale, everyone)
    assert campaign.parameters == [{"field": "name", "fallback": "there"}, {"value": "20%"}]
    assert campaign.tracked_url == "https://shop.example.com/spring"
    assert campaign.send_at.isoformat() == "2030-05-01T10:00:00+00:00" and campaign.max_per_day == 1

    page = client.get(response["Location"]).content.decode()
    assert "Draft saved." in page
    assert 'value="Spring"' in page and 'value="https://shop.example.com/spring"' in page
    assert "<strong>3</strong> contacts match now." in page  # the audience, counted
    # The preview: the template rendered with the first person's own values, header, footer and buttons.
    assert "Hi Person 0, our spring sale is on: 20% off everything until Sunday." in page
    assert "Spring sale" in page and "Reply STOP to unsubscribe" in page and "https://shop.example.com/spring (tracked)" in page


def test_submitting_from_the_builder_asks_for_approval(marketer, spring_sale, everyone):
    contacts_create(1)
    response = client_for(marketer).post(BUILD, form_data(spring_sale, everyone, action="submit"), follow=True)
    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.PENDING_APPROVAL and campaign.submitted_at
    assert response.redirect_chain[-1][0] == f"/admin/campaigns/campaign/{campaign.pk}/review/"
    assert "Submitted for approval" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"param_0_key": "shoe_size", "param_0_source": "field"}, "parameters[0].field: unknown field &#x27;shoe_size&#x27;"),
        ({"name": ""}, "This field is required."),
        ({"max_per_day": "5"}, "a campaign may only be stricter than the global policy (1 to 1)"),
        ({"expires_at": "2030-01-01T00:00", "send_at": "2030-02-01T00:00"}, "expires_at must be after send_at."),
    ],
    ids=["unknown-field", "no-name", "looser-cap", "ends-before-start"],
)
def test_a_campaign_that_could_never_be_sent_is_refused_with_the_reason(marketer, spring_sale, everyone, changes, error):
    response = client_for(marketer).post(BUILD, form_data(spring_sale, everyone, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_change_after_submission_sends_the_campaign_back_to_draft(marketer, spring_sale, everyone):
    contacts_create(1)
    client = client_for(marketer)
    client.post(BUILD, form_data(spring_sale, everyone, action="submit"))
    campaign = Campaign.objects.get()
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/build/", form_data(spring_sale, everyone, param_1_key="30%"), follow=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.parameters[1] == {"value": "30%"}
    assert "changed after submission: submit it for approval again." in response.content.decode()


def test_the_live_preview_renders_the_message_for_the_chosen_person(marketer, spring_sale, everyone):
    ana, nameless = contacts_create(2)
    Contact.objects.filter(pk=nameless.pk).update(name="")
    client = client_for(marketer)

    def preview(**changes) -> dict:
        return client.post("/admin/campaigns/campaign/build/preview/", form_data(spring_sale, everyone, **changes)).json()

    assert preview(preview_contact=ana.pk)["preview"]["body"] == "Hi Person 0, our spring sale is on: 20% off everything until Sunday."
    assert preview(preview_contact=nameless.pk)["preview"]["body"].startswith("Hi there,")  # the fallback
    without_fallback = preview(preview_contact=nameless.pk, param_0_fallback="")
    assert without_fallback["preview"]["body"].startswith("Hi [missing 1],") and without_fallback["preview"]["missing"] == [0]
    # Unfinished values never turn into an error: the placeholder stays as written, the note says what is left.
    unfinished = preview(param_1_key="", preview_contact=ana.pk)
    assert unfinished["preview"]["body"] == "Hi Person 0, our spring sale is on: {{2}} off everything until Sunday."
    assert unfinished["note"] == "Still to fill: {{2}}: no value chosen yet."
    unknown = preview(param_0_key="shoe_size", preview_contact=ana.pk)
    assert unknown["preview"]["body"].startswith("Hi {{1}}, our spring sale is on: 20% off")
    assert unknown["note"] == "Still to fill: {{1}}: unknown field 'shoe_size'; use one of: name, language, country, time_zone."
    # With no one in the audience yet, the fallbacks stand in for the person's values.
    assert preview(segment="")["preview"]["body"] == "Hi there, our spring sale is on: 20% off everything until Sunday."
    assert preview(template="")["note"] == "Choose a template to see the message."


def test_the_builder_of_a_template_without_a_link_hides_the_link_step(marketer, templates, everyone):
    utility = templates[("order_shipped", "en_US")]
    response = client_for(marketer).post(
        BUILD, form_data(utility, everyone, param_0_source="value", param_0_key="A-1", param_1_key="", param_1_source="")
    )
    campaign = Campaign.objects.get()
    assert (campaign.parameters, campaign.tracked_url) == ([{"value": "A-1"}], "")  # no link button: no destination kept
    page = client_for(marketer).get(response["Location"]).content.decode()
    assert 'id="link-step" hidden' in page


def test_the_pages_load_their_script_from_a_file_never_inline(marketer, spring_sale, everyone):
    """The Content-Security-Policy runs no inline script without the nonce; ours are files."""
    contacts_create(1)
    client = client_for(marketer)
    client.post(BUILD, form_data(spring_sale, everyone))
    campaign = Campaign.objects.get()
    for url in (BUILD, f"/admin/campaigns/campaign/{campaign.pk}/build/", f"/admin/campaigns/campaign/{campaign.pk}/live/"):
        response = client.get(url)
        page = response.content.decode()
        assert "script-src 'self' 'nonce-" in response["Content-Security-Policy"]
        scripts = [tag for tag in page.split("<script")[1:]]
        assert scripts and all(" src=" in tag.split(">")[0] for tag in scripts), url
    assert "/static/campaigns/builder.js" in client.get(BUILD).content.decode()


def test_the_parameter_rows_come_back_filled_from_the_saved_mapping(marketer, spring_sale, everyone):
    contacts_create(1)
    client = client_for(marketer)
    client.post(BUILD, form_data(spring_sale, everyone, param_0_source="attribute", param_0_key="first_name", param_0_fallback="friend"))
    campaign = Campaign.objects.get()
    assert campaign.parameters[0] == {"attribute": "first_name", "fallback": "friend"}
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/build/").content.decode()
    assert '<option value="attribute" selected>' in page and 'value="first_name"' in page and 'value="friend"' in page
