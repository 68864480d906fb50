"""The site's root: a real page listing the public opt-in pages (the admin's "View site"), and a favicon."""

from __future__ import annotations

import struct

import pytest
from django.test import Client

from consent.models import OptInForm, Purpose

pytestmark = pytest.mark.django_db


def test_the_home_page_lists_the_active_opt_in_pages_only(optin_form, visitor_ip):
    OptInForm.objects.create(
        slug="old-shop", business_name="Old Shop", message_description="news", frequency="weekly",
        privacy_policy_url="https://old.example/privacy", notice_text="Yes", notice_version="1",
        purpose=Purpose.objects.get(code=Purpose.MARKETING), is_active=False,
    )  # fmt: skip

    response = Client(REMOTE_ADDR=visitor_ip).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/optin/acme/">Acme Shoes</a>: offers, restock alerts and news, up to 4 messages a month.' in html
    assert "Old Shop" not in html
    assert 'href="/admin/"' in html


def test_without_pages_the_home_page_says_so(db, visitor_ip):
    html = Client(REMOTE_ADDR=visitor_ip).get("/").content.decode()
    assert "There is no sign-up page here yet." in html


def test_view_site_in_the_admin_leads_to_the_home_page(marketer, admin_client_for):
    html = admin_client_for(marketer).get("/admin/").content.decode()
    assert '<a href="/">View site</a>' in html


def test_the_favicon_is_a_32_pixel_png(db, visitor_ip):
    response = Client(REMOTE_ADDR=visitor_ip).get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    body = response.content
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", body[16:24]) == (32, 32)
