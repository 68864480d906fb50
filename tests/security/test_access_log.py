"""The web server's access log carries no phone number: support searches post the number, and a URL that names one is masked.

Runs the real gunicorn with Retarget's configuration (retarget/gunicorn_conf.py) against the test database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from consent.services import contact_upsert
from tests.sandbox_fixtures import ROOT, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHONE = "+4915123456789"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Web:
    """gunicorn on a free port; requests carry the cookies given."""

    def __init__(self, url: str, access_log: Path) -> None:
        self.url, self.access_log, self.cookies = url, access_log, {}
        self._opener = urllib.request.build_opener(_NoRedirects)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        request = urllib.request.Request(self.url + path, data=body, headers={"Cookie": cookie, "Referer": self.url + path})
        try:
            with self._opener.open(request, timeout=10) as response:
                status, text, headers = response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            status, text, headers = error.code, error.read().decode(), error.headers
        for set_cookie in headers.get_all("Set-Cookie") or []:
            name, value = set_cookie.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        return status, text, headers

    def log_lines(self, marker: str, count: int = 1) -> list[str]:
        deadline = time.monotonic() + 5
        while True:  # gunicorn writes the line after the response
            lines = [line for line in self.access_log.read_text().splitlines() if marker in line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture
def web(tmp_path) -> Iterator[Web]:
    port, access_log = free_port(), tmp_path / "access.log"
    database = urllib.parse.urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    env = {**os.environ, "DATABASE_URL": urllib.parse.urlunsplit(database), "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}"}
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:retarget.gunicorn_conf", "retarget.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", str(access_log),
    ]  # fmt: skip
    with open(tmp_path / "error.log", "w") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=errors, stderr=subprocess.STDOUT)
    try:
        server = Web(f"http://127.0.0.1:{port}", access_log)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(server.url + "/webhooks/whatsapp", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def signed_in_support(web: Web) -> Web:
    user = User.objects.create_user(username="sue", password="pw-sue", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Support")[0])
    client = Client()
    client.force_login(user)
    web.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return web


def test_a_support_search_posts_the_number_and_its_access_log_line_carries_none(signed_in_support):
    web = signed_in_support
    contact, _ = contact_upsert(phone=PHONE, name="Ana")
    status, page, _ = web.request("/admin/support/find/")
    assert status == 200 and 'method="post"' in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    status, _, headers = web.request("/admin/support/find/", {"phone": "+49 151 2345 6789", "csrfmiddlewaretoken": token})

    assert (status, headers["Location"]) == (302, f"/admin/support/people/{contact.pk}/")
    (line,) = web.log_lines('"POST /admin/support/find/')
    assert " 302 " in line and "6789" not in line and "151" not in line


def test_a_url_that_names_a_number_is_masked_in_the_access_log(web):
    web.request("/admin/support/find/?phone=%2B49+151+2345+6789")
    web.request(f"/admin/support/find/?phone={urllib.parse.quote(PHONE)}")

    lines = web.log_lines("GET /admin/support/find/?phone=", count=2)
    assert len(lines) == 2, web.access_log.read_text()
    assert all("+**********89" in line or "***********89" in line for line in lines), lines
    assert not any(digits in line for line in lines for digits in ("4915123456789", "2345 6789", "2345+6789"))
