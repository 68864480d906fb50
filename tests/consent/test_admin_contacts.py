import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from consent.models import Contact
from consent.services import Evidence, consent_grant, consent_revoke, contact_upsert
from tests.factories import NOTICE

pytestmark = pytest.mark.django_db

CONTACTS = "/admin/consent/contact/"


def _listed(response) -> list[str]:
    return sorted(c.phone for c in response.context["cl"].result_list)


@pytest.fixture
def people(db) -> dict[str, Contact]:
    ana = contact_upsert(phone="+4915123456789", name="Ana Schmidt", tags=["vip"])[0]
    ben = contact_upsert(phone="+447911123456", name="Ben Jones", tags=["runner"])[0]
    cleo = contact_upsert(phone="+33612345678", name="Cléo Martin")[0]
    consent_grant(contact=ana, source="web_form", evidence=NOTICE)
    consent_grant(contact=ben, source="web_form", evidence=NOTICE)
    consent_revoke(contact=ben, source="inbound_keyword")
    return {"ana": ana, "ben": ben, "cleo": cleo}


@override_settings(PHONE_DEFAULT_REGION="DE")
@pytest.mark.parametrize("typed", ["0151 23456789", "+49 151 2345 6789", "4915123456789", "+4915123456789", "0049 151-234-567-89"])
def test_support_finds_a_contact_by_number_in_any_format(admin_client_for, support, people, typed):
    response = admin_client_for(support).get(CONTACTS, {"q": typed})

    assert response.status_code == 200
    assert _listed(response) == ["+4915123456789"]


def test_a_contact_is_found_by_part_of_the_name(admin_client_for, support, people):
    assert _listed(admin_client_for(support).get(CONTACTS, {"q": "jones"})) == ["+447911123456"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"consent": "opted_in"}, ["+4915123456789"]),
        ({"consent": "opted_out"}, ["+447911123456"]),
        ({"consent": "none"}, ["+33612345678"]),
        ({"country": "FR"}, ["+33612345678"]),
        ({"consent": "opted_in", "country": "GB"}, []),
    ],
)
def test_contacts_are_filtered_by_consent_state_and_country(admin_client_for, marketer, people, params, expected):
    assert _listed(admin_client_for(marketer).get(CONTACTS, params)) == expected


def test_contacts_are_filtered_by_tag(admin_client_for, marketer, people):
    vip = people["ana"].tags.get()

    assert _listed(admin_client_for(marketer).get(CONTACTS, {"tags__id__exact": vip.pk})) == ["+4915123456789"]


def test_the_list_shows_consent_and_tags_without_a_query_per_contact(admin_client_for, marketer, people):
    client = admin_client_for(marketer)
    with CaptureQueriesContext(connection) as few:
        client.get(CONTACTS)
    for i in range(30):
        contact = contact_upsert(phone=f"+49151234567{i:02d}", tags=["bulk", f"t{i}"])[0]
        consent_grant(contact=contact, source="web_form", evidence=NOTICE)

    with CaptureQueriesContext(connection) as many:
        response = client.get(CONTACTS)

    assert len(many.captured_queries) == len(few.captured_queries)
    html = response.content.decode()
    assert "Opted in" in html and "Opted out" in html and "No consent" in html and "vip" in html
    assert response.context["cl"].show_full_result_count is False


def test_the_contact_page_shows_the_consent_timeline(admin_client_for, support, people):
    ben = people["ben"]
    consent_revoke(contact=ben, source="support", evidence=Evidence(note="asked on the phone"), actor=_actor(support))

    response = admin_client_for(support).get(f"{CONTACTS}{ben.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    timeline = html[html.index('id="consent-timeline"'):]
    assert timeline.count('class="consent-event"') == 3
    assert "Number suppressed" in timeline
    # Newest first: support's opt-out with its note, the keyword opt-out, the web form opt-in with its notice.
    assert timeline.index("asked on the phone") < timeline.index("Inbound keyword") < timeline.index("Web form")
    assert "sue" in timeline and NOTICE.notice_text in timeline


def test_a_marketer_edits_a_contact_but_not_its_number(admin_client_for, marketer, people):
    ana = people["ana"]

    response = admin_client_for(marketer).post(
        f"{CONTACTS}{ana.pk}/change/",
        {"phone": "+447911000000", "name": "Ana S.", "language": "de", "time_zone": "", "attributes": '{"city": "Bonn"}', "tags": []},
    )

    assert response.status_code == 302
    ana.refresh_from_db()
    assert (ana.phone, ana.name, ana.attributes, ana.time_zone) == ("+4915123456789", "Ana S.", {"city": "Bonn"}, "Europe/Berlin")


def test_a_marketer_adds_a_contact_typed_in_any_format(admin_client_for, marketer, people):
    response = admin_client_for(marketer).post(
        f"{CONTACTS}add/", {"phone": "+44 7400 123456", "name": "Dev", "language": "", "time_zone": "", "attributes": "{}"}
    )

    assert response.status_code == 302
    dev = Contact.objects.get(name="Dev")
    assert (dev.phone, dev.wa_id, dev.country, dev.time_zone) == ("+447400123456", "447400123456", "GB", "Europe/London")
    assert dev.phone_hash


def test_adding_a_known_number_in_another_format_is_refused(admin_client_for, marketer, people):
    response = admin_client_for(marketer).post(
        f"{CONTACTS}add/", {"phone": "0049 151 23456789", "name": "Twin", "language": "", "time_zone": "", "attributes": "{}"}
    )

    assert response.status_code == 200
    assert "Contact with this Phone already exists." in response.content.decode()


@pytest.mark.parametrize("role", ["support", "approver"])
def test_support_and_approvers_see_contacts_but_cannot_change_them(request, admin_client_for, people, role):
    client = admin_client_for(request.getfixturevalue(role))
    ana = people["ana"]

    assert client.get(CONTACTS).status_code == 200
    assert client.get(f"{CONTACTS}{ana.pk}/change/").status_code == 200
    assert client.post(f"{CONTACTS}{ana.pk}/change/", {"name": "Hacked"}).status_code == 403
    assert client.get(f"{CONTACTS}add/").status_code == 403
    ana.refresh_from_db()
    assert ana.name == "Ana Schmidt"


def test_an_account_without_staff_access_is_sent_to_the_login(admin_client_for, outsider, people):
    response = admin_client_for(outsider).get(CONTACTS)

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def _actor(user):
    from core.audit import Actor

    return Actor(user=user)
