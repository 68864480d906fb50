"""Opting in as a person does: the form on the page, then the sign-up code sent from WhatsApp."""

from __future__ import annotations

import random
import re

from django.http import HttpResponse
from django.test import Client

from tests.factories import payload


def new_person_number() -> str:
    """A German mobile number of its own per test: per-number counters live in Redis across runs."""
    return f"+49151{random.randrange(10**8):08d}"


def join_text_shown(client: Client, answer: HttpResponse) -> str:
    """Follow the sign-up's answer to its page and read the message it asks the person to send."""
    page = client.get(answer["Location"])
    assert page.status_code == 200, page.content
    return re.search(r'id="join-text">([^<]+)<', page.content.decode()).group(1)


def whatsapp_text(text: str, *, phone: str, wamid: str, name: str = "Ana") -> dict:
    """A signed-webhook payload: ``text`` sent to our number from ``phone``."""
    return payload("inbound_text_stop.json", {"STOP": text, "wamid.ABC": wamid, "4915123456789": phone.lstrip("+"), "Ana": name})
