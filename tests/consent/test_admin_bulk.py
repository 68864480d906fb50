"""Bulk actions on a filtered contact list: tag, untag, record opt-outs (a ledger event each, audit entries)."""

from __future__ import annotations

import pytest

from consent.models import ConsentEvent, ConsentStatus, Contact, Tag
from consent.selectors import contacts_by_consent_status
from core.models import AuditEntry
from tests.factories import contacts_create

pytestmark = pytest.mark.django_db

CONTACTS = "/admin/consent/contact/"


@pytest.fixture
def people(db):
    """Four opted-in people tagged vip, two without a tag, one never opted in but tagged vip."""
    vip = Tag.objects.create(name="vip")
    opted_in = contacts_create(6, start=700)
    never = contacts_create(1, start=720, opted_in=False)
    for contact in opted_in[:4] + never:
        contact.tags.add(vip)
    return {"vip_opted_in": opted_in[:4], "untagged": opted_in[4:], "never": never}


def _bulk(client, action: str, value: str, *, filters: str, selected: list[int]):
    """The list's action across everything the filters match, then the confirmation page."""
    first = client.post(f"{CONTACTS}?{filters}", {"action": action, "select_across": "1", "index": "0", "_selected_action": selected})
    assert first.status_code == 200 and 'id="bulk-action"' in first.content.decode()
    return client.post(
        f"{CONTACTS}?{filters}",
        {"action": action, "select_across": "1", "_selected_action": selected, "bulk_apply": "1", "bulk_value": value},
        follow=True,
    )


def test_tagging_all_contacts_a_filter_matches_tags_exactly_those(admin_client_for, marketer, people):
    client = admin_client_for(marketer)
    vip = Tag.objects.get(name="vip")
    filters = f"consent=opted_in&tags__id__exact={vip.pk}"
    page = client.get(f"{CONTACTS}?{filters}").content.decode()
    assert "Tag the selected contacts" in page and "Record an opt-out for the selected contacts" in page
    response = _bulk(client, "tag_action", "Spring-2026", filters=filters, selected=[people["vip_opted_in"][0].pk])
    assert "Tag contacts: 4 changed, 0 already so." in response.content.decode()
    tagged = set(Contact.objects.filter(tags__name="spring-2026").values_list("pk", flat=True))
    assert tagged == {c.pk for c in people["vip_opted_in"]}
    audit = AuditEntry.objects.get(action="contacts.bulk_tag")
    assert (audit.actor, audit.object_id, audit.details["tagged"]) == (marketer, "spring-2026", 4)


def test_a_bulk_tag_name_breaking_the_import_rule_is_refused_and_tags_nobody(admin_client_for, marketer, people):
    """One rule for tag names wherever people are tagged: a name the CSV import refuses is refused here too."""
    client = admin_client_for(marketer)
    response = _bulk(client, "tag_action", "summer sale!", filters="consent=opted_in", selected=[people["untagged"][0].pk])
    assert "may only hold letters, digits, - and _" in response.content.decode()
    assert not Tag.objects.filter(name__startswith="summer").exists()


def test_untagging_removes_the_tag_from_the_filtered_contacts_only(admin_client_for, marketer, people):
    client = admin_client_for(marketer)
    response = _bulk(client, "untag_action", "vip", filters="consent=opted_in", selected=[people["untagged"][0].pk])
    assert "Remove a tag: 4 changed, 2 already so." in response.content.decode()
    assert list(Contact.objects.filter(tags__name="vip")) == people["never"]
    assert AuditEntry.objects.get(action="contacts.bulk_untag").details == {"untagged": 4, "selected": 6}
    refused = _bulk(client, "untag_action", "nosuchtag", filters="consent=opted_in", selected=[people["untagged"][0].pk])
    assert "Nothing changed: There is no tag &#x27;nosuchtag&#x27;." in refused.content.decode()


def test_a_bulk_opt_out_records_one_ledger_event_per_person_with_the_reason(admin_client_for, support, people):
    client = admin_client_for(support)
    vip = Tag.objects.get(name="vip")
    refused = _bulk(client, "opt_out_action", "  ", filters=f"tags__id__exact={vip.pk}", selected=[people["never"][0].pk])
    assert "Nothing changed: Say why these people are opted out" in refused.content.decode()
    assert not ConsentEvent.objects.filter(action="opt_out").exists()

    response = _bulk(client, "opt_out_action", "Complaint by e-mail, ticket 9001", filters=f"tags__id__exact={vip.pk}", selected=[people["never"][0].pk])
    assert "Record opt-outs: 5 changed, 0 already so." in response.content.decode()
    events = ConsentEvent.objects.filter(action="opt_out")
    assert sorted(e.contact_id for e in events) == sorted(c.pk for c in people["vip_opted_in"] + people["never"])
    assert {(e.source, e.note, e.recorded_by) for e in events} == {("support", "Complaint by e-mail, ticket 9001", support)}
    opted_out = contacts_by_consent_status(Contact.objects.all(), ConsentStatus.OPTED_OUT)
    assert set(opted_out.values_list("pk", flat=True)) == {e.contact_id for e in events}
    summary = AuditEntry.objects.get(action="contacts.bulk_opt_out")
    assert (summary.actor, summary.details["opted_out"], summary.details["reason"]) == (support, 5, "Complaint by e-mail, ticket 9001")
    # Again: nobody is opted out twice.
    again = _bulk(client, "opt_out_action", "again", filters=f"tags__id__exact={vip.pk}", selected=[people["never"][0].pk])
    assert "Record opt-outs: 0 changed, 5 already so." in again.content.decode()
    assert ConsentEvent.objects.filter(action="opt_out").count() == 5


def test_support_may_opt_out_in_bulk_but_not_tag(admin_client_for, support, people):
    page = admin_client_for(support).get(CONTACTS).content.decode()
    assert "Record an opt-out for the selected contacts" in page and "Tag the selected contacts" not in page
