"""Every page carries a Content-Security-Policy; inline scripts run only with the request's nonce."""

from __future__ import annotations

import re

import pytest

from consent.services import contact_upsert

pytestmark = pytest.mark.django_db

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def nonce_of(response) -> str:
    (nonce,) = [s[len("'nonce-") : -1] for s in policy(response)["script-src"] if s.startswith("'nonce-")]
    return nonce


def inline_scripts_without_the_nonce(response) -> list[str]:
    nonce = nonce_of(response)
    return [
        attrs for attrs in SCRIPT_TAG.findall(response.content.decode())
        if "src=" not in attrs and "application/json" not in attrs and f'nonce="{nonce}"' not in attrs
    ]  # fmt: skip


@pytest.fixture
def pages(admin_client_for, superuser, optin_form):  # noqa: F811
    contact, _ = contact_upsert(phone="+4915123456789", name="Ana")
    staff = admin_client_for(superuser)
    return {
        "admin index": staff.get("/admin/"),
        "contact page": staff.get(f"/admin/consent/contact/{contact.pk}/change/"),
        "segment page": staff.get("/admin/campaigns/segment/add/"),
        "opt-in page": staff.get(f"/optin/{optin_form.slug}/"),
        "api docs": staff.get("/api/docs/"),
    }


def test_pages_forbid_foreign_scripts_framing_and_plugins(pages):
    for name, response in pages.items():
        assert response.status_code == 200, name
        rules = policy(response)
        assert rules["default-src"] == ["'self'"], name
        assert "'unsafe-inline'" not in rules["script-src"] and "'unsafe-eval'" not in rules["script-src"], name
        assert (rules["frame-ancestors"], rules["object-src"]) == (["'none'"], ["'none'"]), name


def test_every_inline_script_carries_the_requests_nonce(pages):
    for name, response in pages.items():
        assert inline_scripts_without_the_nonce(response) == [], name


def test_the_nonce_is_new_for_every_request(client):
    assert nonce_of(client.get("/admin/login/")) != nonce_of(client.get("/admin/login/"))


def test_the_api_docs_load_their_start_up_script_as_a_file(client):
    page = client.get("/api/docs/")
    (script_url,) = [m for m in re.findall(r'<script src="([^"]+)"', page.content.decode()) if "script" in m.split("?")[-1]]

    script = client.get(script_url)

    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
