"""Every endpoint refuses a caller without a token (401) and a caller whose role does not allow it (403)."""

import pytest

from consent.models import ConsentEvent, Contact
from consent.services import contact_upsert

pytestmark = pytest.mark.django_db

OPT_OUT = {"phone": "+4915123456789", "action": "opt_out", "source": "api"}
NEW_CONTACT = {"phone": "+4915123456789", "name": "Ana"}

# (method, path, body, roles allowed, roles refused); "{id}" is an existing contact.
ENDPOINTS = [
    ("get", "/api/v1/contacts", None, ["marketer", "support", "approver"], ["outsider"]),
    ("get", "/api/v1/contacts/{id}", None, ["marketer", "support", "approver"], ["outsider"]),
    ("get", "/api/v1/contacts/{id}/consents", None, ["marketer", "support", "approver"], ["outsider"]),
    ("post", "/api/v1/contacts", NEW_CONTACT, ["marketer"], ["support", "approver", "outsider"]),
    ("post", "/api/v1/consents", OPT_OUT, ["marketer", "support"], ["approver", "outsider"]),
]


def _call(client, method, path, body, contact):
    return getattr(client, method)(path.format(id=contact.pk), body, format="json")


@pytest.fixture
def contact() -> Contact:
    return contact_upsert(phone="+447911123456")[0]


@pytest.mark.parametrize(("method", "path", "body", "allowed", "refused"), ENDPOINTS)
def test_a_request_without_a_token_gets_401(api_client, contact, method, path, body, allowed, refused):
    response = _call(api_client(None), method, path, body, contact)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path", "body", "allowed", "refused"), ENDPOINTS)
def test_a_wrong_token_gets_401(api_client, contact, method, path, body, allowed, refused):
    client = api_client(None)
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    assert _call(client, method, path, body, contact).status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "allowed", "refused"), ENDPOINTS)
def test_a_role_without_the_permission_gets_403_and_changes_nothing(request, api_client, contact, method, path, body, allowed, refused):
    for role in refused:
        response = _call(api_client(request.getfixturevalue(role)), method, path, body, contact)
        assert response.status_code == 403, role
        assert "role does not allow this" in response.json()["detail"]
    assert Contact.objects.count() == 1
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(("method", "path", "body", "allowed", "refused"), ENDPOINTS)
def test_the_roles_meant_for_an_endpoint_are_let_through(request, api_client, contact, method, path, body, allowed, refused):
    for role in allowed:
        response = _call(api_client(request.getfixturevalue(role)), method, path, body, contact)
        assert response.status_code in (200, 201), (role, response.status_code)


def test_a_deactivated_users_token_stops_working(api_client, marketer, contact):
    client = api_client(marketer)
    marketer.is_active = False
    marketer.save()

    assert client.get("/api/v1/contacts").status_code == 401
