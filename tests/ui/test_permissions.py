"""Every purpose-built page, for every role: who gets it, who gets 403, who is sent to the login."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from consent.models import ConsentStatus
from consent.selectors import contact_consent_status
from tests.factories import campaign_with_messages, client_for, inbound

pytestmark = pytest.mark.django_db

EVERY_ROLE = ("marketer", "approver", "support")


@pytest.fixture
def scene(spring_sale, marketer):
    campaign, messages = campaign_with_messages(spring_sale, outcomes={"read": 2}, author=marketer, status=Campaign.Status.PENDING_APPROVAL)
    contact = messages[0].contact
    inbound(contact, "Hello?")
    return {"campaign": campaign.pk, "contact": contact.pk}


# (method, url, roles that get the page); everyone else with a staff account gets 403.
PAGES = [
    ("get", "/admin/campaigns/campaign/build/", ("marketer",)),
    ("get", "/admin/campaigns/campaign/{campaign}/build/", ("marketer",)),
    ("post", "/admin/campaigns/campaign/build/preview/", ("marketer",)),
    ("get", "/admin/campaigns/campaign/{campaign}/review/", EVERY_ROLE),
    ("get", "/admin/campaigns/campaign/{campaign}/live/", EVERY_ROLE),
    ("get", "/admin/campaigns/campaign/{campaign}/progress/", EVERY_ROLE),
    ("get", "/admin/campaigns/campaign/{campaign}/export.csv", EVERY_ROLE),
    ("get", "/admin/campaigns/campaign/dashboard/", EVERY_ROLE),
    ("get", "/admin/support/find/", EVERY_ROLE),
    ("get", "/admin/support/people/{contact}/", EVERY_ROLE),
    ("get", "/admin/support/inbox/", ("support",)),
]


@pytest.mark.parametrize(("method", "url", "allowed"), PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES])
def test_each_page_answers_its_roles_and_refuses_the_others(request, scene, method, url, allowed, staffer):
    url = url.format(**scene)
    for role in (*EVERY_ROLE, "staffer"):
        response = getattr(client_for(request.getfixturevalue(role)), method)(url)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, f"{role} on {url}: {response.status_code}"


@pytest.mark.parametrize(("method", "url", "_"), PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES])
def test_each_page_sends_anonymous_visitors_and_non_staff_accounts_to_the_login(scene, outsider, method, url, _):
    url = url.format(**scene)
    for client in (client_for(), client_for(outsider)):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_guide_is_for_every_staff_member_and_only_them(staffer, outsider):
    assert client_for(staffer).get("/admin/guide/").status_code == 200
    assert client_for(outsider).get("/admin/guide/")["Location"].startswith("/admin/login/")


def test_support_cannot_create_approve_or_send_campaigns(scene, support, spring_sale, everyone):
    client = client_for(support)
    campaign = scene["campaign"]
    assert client.post("/admin/campaigns/campaign/build/", {"name": "Mine", "template": spring_sale.pk, "segment": everyone.pk}).status_code == 403
    assert client.post(f"/admin/campaigns/campaign/{campaign}/test-send/").status_code == 403
    for action in ("approve", "submit", "pause", "resume", "cancel"):
        assert client.post(f"/admin/campaigns/campaign/{campaign}/lifecycle/{action}/").status_code == 403, action
    assert Campaign.objects.get(pk=campaign).status == Campaign.Status.PENDING_APPROVAL
    assert Campaign.objects.count() == 1
    # Their pages offer none of it.
    review = client.get(f"/admin/campaigns/campaign/{campaign}/review/").content.decode()
    assert ">Approve</button>" not in review and ">Reject</button>" not in review
    live = client.get(f"/admin/campaigns/campaign/{campaign}/live/").content.decode()
    assert 'data-action="pause"' not in live and 'data-action="cancel"' not in live


def test_marketers_cannot_erase_people_nor_answer_them(scene, marketer):
    client = client_for(marketer)
    contact = scene["contact"]
    timeline = client.get(f"/admin/support/people/{contact}/").content.decode()
    assert "Erase personal data" not in timeline and "Send answer" not in timeline
    assert client.post(f"/admin/consent/contact/{contact}/erase/", {"confirm": "on", "reason": "x"}).status_code == 403
    assert client.post(f"/admin/support/people/{contact}/reply/", {"body": "Hi"}).status_code == 403
    assert contact_consent_status_of(contact) == ConsentStatus.OPTED_IN


def test_approvers_cannot_build_or_test_campaigns(scene, approver):
    client = client_for(approver)
    assert client.post(f"/admin/campaigns/campaign/{scene['campaign']}/test-send/").status_code == 403
    assert client.get(f"/admin/campaigns/campaign/{scene['campaign']}/build/").status_code == 403


def test_the_csv_needs_the_right_to_see_contacts(scene, staffer):
    from django.contrib.auth.models import Permission

    staffer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = client_for(staffer)
    assert client.get(f"/admin/campaigns/campaign/{scene['campaign']}/live/").status_code == 200
    assert "per-recipient CSV" not in client.get(f"/admin/campaigns/campaign/{scene['campaign']}/live/").content.decode()
    assert client.get(f"/admin/campaigns/campaign/{scene['campaign']}/export.csv").status_code == 403


def contact_consent_status_of(contact_id: int) -> str:
    from consent.models import Contact

    return contact_consent_status(Contact.objects.get(pk=contact_id))
