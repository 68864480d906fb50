import pytest

from consent.models import OptInForm, Purpose

pytestmark = pytest.mark.django_db

NEW_NOTICE = "Yes, Acme Shoes may send me weekly offers on WhatsApp. Reply STOP to end."


def _form_data(optin_form: OptInForm, **changes) -> dict:
    data = {
        "business_name": optin_form.business_name,
        "slug": optin_form.slug,
        "is_active": "on",
        "purpose": optin_form.purpose_id,
        "message_description": optin_form.message_description,
        "frequency": optin_form.frequency,
        "privacy_policy_url": optin_form.privacy_policy_url,
        "notice_text": optin_form.notice_text,
        "notice_version": optin_form.notice_version,
        "confirmation_template": "",
        "confirmation_template_language": "en_US",
    }
    return {**data, **changes}


def test_changing_the_notice_without_a_new_version_is_refused(admin_client_for, marketer, optin_form):
    response = admin_client_for(marketer).post(f"/admin/consent/optinform/{optin_form.pk}/change/", _form_data(optin_form, notice_text=NEW_NOTICE))

    assert response.status_code == 200
    assert "You changed the notice text, so give it a new version (it is still &#x27;2026-11&#x27;)" in response.content.decode()
    optin_form.refresh_from_db()
    assert optin_form.notice_version == "2026-11" and optin_form.notice_text != NEW_NOTICE


def test_a_marketer_changes_the_notice_under_a_new_version(admin_client_for, marketer, optin_form):
    response = admin_client_for(marketer).post(
        f"/admin/consent/optinform/{optin_form.pk}/change/", _form_data(optin_form, notice_text=NEW_NOTICE, notice_version="2026-12")
    )

    assert response.status_code == 302
    optin_form.refresh_from_db()
    assert (optin_form.notice_text, optin_form.notice_version) == (NEW_NOTICE, "2026-12")
    assert NEW_NOTICE in admin_client_for(marketer).get("/optin/acme/").content.decode()


def test_a_marketer_creates_an_opt_in_page(admin_client_for, marketer, optin_form):
    data = _form_data(optin_form, slug="acme-newsletter", business_name="Acme News")

    assert admin_client_for(marketer).post("/admin/consent/optinform/add/", data).status_code == 302
    assert OptInForm.objects.get(slug="acme-newsletter").purpose == Purpose.objects.get(code="marketing")


@pytest.mark.parametrize("role", ["support", "approver"])
def test_other_roles_see_the_pages_but_cannot_change_them(request, admin_client_for, optin_form, role):
    client = admin_client_for(request.getfixturevalue(role))

    assert client.get(f"/admin/consent/optinform/{optin_form.pk}/change/").status_code == 200
    response = client.post(f"/admin/consent/optinform/{optin_form.pk}/change/", _form_data(optin_form, notice_text=NEW_NOTICE, notice_version="9"))
    assert response.status_code == 403
    optin_form.refresh_from_db()
    assert optin_form.notice_version == "2026-11"
