"""Every endpoint under /api/v1/ refuses a caller without a token (401) and a signed-in user without a role (403).

The endpoints are read from the URL configuration, so an endpoint added later is covered without a change here.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from core.models import AuditEntry

pytestmark = pytest.mark.django_db

API_PREFIX = "api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")
# Open to every signed-in user by design: a user may always switch off their own token.
ANY_USER = {("post", "/api/v1/auth/token/revoke")}


def _patterns(patterns, prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _patterns(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern.callback))
    return found


def api_endpoints() -> list[tuple[str, str]]:
    endpoints = []
    for route, callback in _patterns(get_resolver().url_patterns):
        if not route.startswith(API_PREFIX):
            continue
        path = "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        endpoints += [(method, path) for method in METHODS if hasattr(view, method)]
    return sorted(set(endpoints))


ENDPOINTS = api_endpoints()


def test_the_endpoint_list_is_read_from_the_url_configuration():
    assert len(ENDPOINTS) > 20
    assert {("get", "/api/v1/contacts/1/export"), ("post", "/api/v1/contacts/1/erase"), ("post", "/api/v1/events")} <= set(ENDPOINTS)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_gets_401(api_client, method, path):
    response = getattr(api_client(None), method)(path, {}, format="json")

    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e not in ANY_USER])
def test_a_user_without_a_role_gets_403(api_client, outsider, method, path):
    response = getattr(api_client(outsider), method)(path, {}, format="json")

    assert response.status_code == 403, response.content


def test_revoking_a_token_makes_it_fail_from_then_on(api_client, marketer):
    client = api_client(marketer)
    assert client.get("/api/v1/contacts").status_code == 200

    assert client.post("/api/v1/auth/token/revoke").status_code == 204

    assert client.get("/api/v1/contacts").status_code == 401
    entry = AuditEntry.objects.get(action="auth.token_revoke")
    assert (entry.actor, entry.object_id, entry.ip_address) == (marketer, str(marketer.pk), "127.0.0.1")


def test_a_signed_in_browser_session_cannot_revoke_through_the_endpoint(admin_client_for, marketer):
    assert admin_client_for(marketer).post("/api/v1/auth/token/revoke").status_code in (401, 403)


def test_an_administrator_revokes_tokens_in_the_admin(api_client, admin_client_for, superuser, marketer, support):
    marketer_client, support_client = api_client(marketer), api_client(support)
    client = admin_client_for(superuser)
    key = Token.objects.get(user=marketer).key
    assert f'value="{key}"' in client.get("/admin/authtoken/tokenproxy/").content.decode()

    response = client.post("/admin/authtoken/tokenproxy/", {"action": "revoke_tokens", "_selected_action": [key]})

    assert response.status_code == 302
    assert marketer_client.get("/api/v1/contacts").status_code == 401
    assert support_client.get("/api/v1/contacts").status_code == 200
    assert not Token.objects.filter(user=marketer).exists()
    entry = AuditEntry.objects.get(action="auth.token_revoke")
    assert (entry.actor, entry.details["user"]) == (superuser, "mara")


def test_staff_without_the_permission_cannot_revoke_tokens_in_the_admin(api_client, admin_client_for, support, marketer):
    marketer_client = api_client(marketer)
    key = Token.objects.get(user=marketer).key

    response = admin_client_for(support).post("/admin/authtoken/tokenproxy/", {"action": "revoke_tokens", "_selected_action": [key]})

    assert response.status_code == 403
    assert marketer_client.get("/api/v1/contacts").status_code == 200
