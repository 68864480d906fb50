import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.models import ConsentEvent, Contact
from core.models import AuditEntry
from tests.factories import NOTICE_TEXT, csv_import_through_admin

pytestmark = pytest.mark.django_db

IMPORT = "/admin/consent/contact/import/"
CSV = (
    "phone,name,tags,city,consent_opted_in_at,consent_notice_version,consent_notice_text\n"
    f'+4915123456789,Ana,vip,Berlin,2026-01-05,v3,"{NOTICE_TEXT}"\n'
    "+49 12,Broken,,,,,\n"
    "+447911123456,Ben,,London,,,\n"
).encode()


def test_a_marketer_uploads_a_csv_and_sees_what_was_imported_and_what_was_not(admin_client_for, marketer, visitor_ip):
    response = csv_import_through_admin(admin_client_for(marketer), CSV)

    assert response.status_code == 200
    html = response.content.decode()
    assert "imported 2, updated 0, unchanged 0, rejected 1" in html
    assert "<td>3</td><td>&#x27;+49 12&#x27; is not a valid phone number" in html
    assert Contact.objects.count() == 2
    event = ConsentEvent.objects.get()
    assert (event.contact.name, event.source, event.recorded_by) == ("Ana", "import", marketer)
    audit = AuditEntry.objects.get(action="contacts.import")
    assert (audit.actor, audit.ip_address, audit.object_id) == (marketer, visitor_ip, "shop-export.csv")


def test_uploading_the_same_file_again_changes_nothing(admin_client_for, marketer):
    client = admin_client_for(marketer)
    csv_import_through_admin(client, CSV)

    response = csv_import_through_admin(client, CSV)

    assert "imported 0, updated 0, unchanged 2, rejected 1" in response.content.decode()
    assert ConsentEvent.objects.count() == 1


def test_a_file_without_a_phone_column_is_refused_at_the_mapping_step(admin_client_for, marketer):
    response = csv_import_through_admin(admin_client_for(marketer), b"mobile,name\n+4915123456789,Ana\n")

    html = response.content.decode()
    assert "The file has no &#x27;phone&#x27; column; its columns are: mobile, name. Nothing was imported." in html
    assert not Contact.objects.exists()


def test_the_contact_list_offers_the_import_only_to_roles_that_may_import(admin_client_for, marketer, support):
    assert IMPORT in admin_client_for(marketer).get("/admin/consent/contact/").content.decode()
    assert IMPORT not in admin_client_for(support).get("/admin/consent/contact/").content.decode()


@pytest.mark.parametrize("role", ["support", "approver"])
def test_other_roles_cannot_import(request, admin_client_for, role):
    client = admin_client_for(request.getfixturevalue(role))

    assert client.get(IMPORT).status_code == 403
    assert csv_import_through_admin(client, CSV).status_code == 403
    assert not Contact.objects.exists()


SHOP_EXPORT = (
    b"Mobile;Full name;Segment;Internal id;Lang\n"
    b"+49 151 2345 6789;Ana;vip;A-1;de\n"
    b"12ab;Broken;;A-2;\n"
    b"+44 7911 123456;Ben;newsletter;A-3;en\n"
)
SHOP_MAPPING = {0: "phone", 1: "name", 2: "tags", 3: "ignore", 4: "language"}


def test_the_mapping_step_offers_the_files_own_headers_with_a_guess(admin_client_for, marketer):
    response = admin_client_for(marketer).post(IMPORT, {"file": SimpleUploadedFile("shop.csv", CSV, content_type="text/csv")})
    html = response.content.decode()
    assert '<label for="map_0">phone</label>' in html and '<label for="map_3">city</label>' in html
    assert '<option value="phone" selected>' in html and '<option value="attribute" selected>' in html
    assert not Contact.objects.exists()


def test_a_dry_run_shows_what_would_be_imported_and_rejected_and_writes_nothing(admin_client_for, marketer):
    client = admin_client_for(marketer)
    preview = csv_import_through_admin(client, SHOP_EXPORT, mapping=SHOP_MAPPING, steps=("preview",)).content.decode()
    assert "Preview: nothing has been imported yet" in preview and "Would be: imported 2, updated 0, unchanged 0, rejected 1" in preview
    accepted = preview.split('id="import-accepted"')[1].split("</table>")[0]
    assert "<td>2</td><td>+4915123456789</td><td>Ana</td><td>new contact</td><td>vip</td>" in accepted
    assert "<td>4</td><td>+447911123456</td><td>Ben</td>" in accepted and "Broken" not in accepted
    rejected = preview.split('id="import-rejected"')[1].split("</table>")[0]
    assert "<td>3</td><td>&#x27;12ab&#x27; is not a phone number." in rejected
    assert "Import the 2 accepted rows" in preview
    assert not Contact.objects.exists() and not AuditEntry.objects.filter(action="contacts.import").exists()


def test_the_real_import_after_a_preview_writes_exactly_the_accepted_rows(admin_client_for, marketer):
    client = admin_client_for(marketer)
    result = csv_import_through_admin(client, SHOP_EXPORT, mapping=SHOP_MAPPING).content.decode()
    assert "imported 2, updated 0, unchanged 0, rejected 1" in result and "Preview" not in result
    people = {c.phone: c for c in Contact.objects.prefetch_related("tags")}
    assert set(people) == {"+4915123456789", "+447911123456"}
    ana = people["+4915123456789"]
    assert (ana.name, ana.language, [t.name for t in ana.tags.all()], ana.attributes) == ("Ana", "de", ["vip"], {})
    assert AuditEntry.objects.filter(action="contacts.import", actor=marketer).count() == 1


def test_a_sample_file_can_be_downloaded_and_imports_cleanly(admin_client_for, marketer):
    client = admin_client_for(marketer)
    assert 'href="?sample=1"' in client.get(IMPORT).content.decode()
    sample = client.get(IMPORT, {"sample": "1"})
    assert sample["Content-Disposition"] == 'attachment; filename="contacts-sample.csv"'
    result = csv_import_through_admin(client, sample.content).content.decode()
    assert "imported 2, updated 0, unchanged 0, rejected 0" in result
    assert ConsentEvent.objects.filter(contact__phone="+4915123456789", source="web_form").count() == 1
