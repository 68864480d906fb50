"""The person of the rights tests: who they are, and the message payloads they send."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.models import Campaign, Message
from consent.models import Contact, OptInForm
from tests.factories import payload

PHONE = "+4917612345678"
WA_ID = "4917612345678"
NAME = "Zebedee Quintanilla"
NEW_NAME = "Zebedee Quintanilla-Fairweather"
OTHER_PHONE = "+4915198765432"
PERSON_AGENT = "Mozilla/5.0 (Zebedee's phone)"


@dataclass
class Person:
    contact: Contact
    campaign: Campaign
    message: Message
    optin_form: OptInForm
    ip: str  # the address the person opted in from


def inbound_text(text: str, *, wamid: str, wa_id: str = WA_ID, name: str = NAME) -> dict:
    return payload("inbound_text_stop.json", {"STOP": text, "wamid.ABC": wamid, "4915123456789": wa_id, "Ana": name})
