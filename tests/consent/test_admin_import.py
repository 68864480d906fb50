import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.models import ConsentEvent, Contact
from core.models import AuditEntry
from tests.factories import NOTICE_TEXT

pytestmark = pytest.mark.django_db

IMPORT = "/admin/consent/contact/import/"
CSV = (
    "phone,name,tags,city,consent_opted_in_at,consent_notice_version,consent_notice_text\n"
    f'+4915123456789,Ana,vip,Berlin,2026-01-05,v3,"{NOTICE_TEXT}"\n'
    "+49 12,Broken,,,,,\n"
    "+447911123456,Ben,,London,,,\n"
).encode()


def _upload(client, content: bytes = CSV, name: str = "shop-export.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})


def test_a_marketer_uploads_a_csv_and_sees_what_was_imported_and_what_was_not(admin_client_for, marketer, visitor_ip):
    response = _upload(admin_client_for(marketer))

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
    _upload(client)

    response = _upload(client)

    assert "imported 0, updated 0, unchanged 2, rejected 1" in response.content.decode()
    assert ConsentEvent.objects.count() == 1


def test_a_file_without_a_phone_column_is_refused_next_to_the_upload_field(admin_client_for, marketer):
    response = _upload(admin_client_for(marketer), b"mobile,name\n+4915123456789,Ana\n")

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
    assert _upload(client).status_code == 403
    assert not Contact.objects.exists()
