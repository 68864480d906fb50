"""Who a sandbox message is for or from: a phone number, a business-scoped user id (BSUID), or both.

People who adopt a WhatsApp username may reach a business without their phone number. Meta then names
them by a BSUID: a two-letter country code, a dot and up to 128 alphanumerics ("US.13491208655302741918"),
or a parent BSUID across portfolios ("US.ENT.11815799212886844830")
(https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/,
https://docs.360dialog.com/docs/resources/phone-numbers/usernames-and-bsuid).

Where each identifier goes in a webhook, as Meta's references and SDKs parse them:
- ``contacts[]``: ``user_id``, ``parent_user_id``, ``profile.username``, and ``wa_id`` only while the phone
  number is shared (pywa ``pywa/types/user.py`` ``User.from_contact``);
- inbound ``messages[]``: ``from_user_id`` beside or instead of ``from`` (a captured Meta payload:
  ``"from": "9198...", "from_user_id": "IN.1410018717833190"``);
- ``statuses[]``: ``recipient_user_id`` and ``recipient_parent_user_id`` beside or instead of ``recipient_id``;
  ``recipient_id`` carries the phone number when the message was sent to the phone number
  (whatsapp-api-js ``ServerStatusPayload``, https://whatsappapijs.web.app/types/types.ServerStatusPayload.html);
  the username appears in delivered and read statuses, not in sent ones (Meta's BSUID page);
- ``system`` messages of type ``user_changed_user_id`` carry the new ``user_id`` (and ``parent_user_id``) and
  no ``contacts`` array (Meta's system messages webhook reference; pywa ``pywa/types/system.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

BSUID_RE = re.compile(r"^[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}$")


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def rule_matches(rule: dict, wa_id: str, user_id: str = "") -> bool:
    """A sandbox rule names people by ``number``, ``suffix`` of the number, or ``user_id`` (a BSUID)."""
    if user_id and rule.get("user_id") == user_id:
        return True
    if not wa_id:
        return False
    if "number" in rule and digits(str(rule["number"])) == wa_id:
        return True
    return "suffix" in rule and wa_id.endswith(str(rule["suffix"]))


def derived_user_id(wa_id: str, country: str) -> str:
    """A stable made-up BSUID for a phone number, so tests can predict it without configuring one."""
    number = int(hashlib.sha256(wa_id.encode()).hexdigest()[:15], 16)
    return f"{country}.{number:019d}"


@dataclass(frozen=True)
class Person:
    """One WhatsApp user as the sandbox knows them; ``wa_id`` is empty when only a BSUID is known."""

    wa_id: str
    user_id: str = ""
    parent_user_id: str = ""
    username: str = ""
    hide_phone: bool = False  # a username user whose number Meta withholds from webhooks
    name: str = "Sandbox user"

    @property
    def shows_phone(self) -> bool:
        return bool(self.wa_id) and not self.hide_phone

    def contact(self, *, with_username: bool = True) -> dict[str, Any]:
        """The ``contacts[]`` item of a webhook about this person."""
        profile: dict[str, Any] = {"name": self.name}
        if self.username and with_username:
            profile["username"] = self.username
        contact: dict[str, Any] = {"profile": profile}
        if self.shows_phone:
            contact["wa_id"] = self.wa_id
        if self.user_id:
            contact["user_id"] = self.user_id
        if self.parent_user_id:
            contact["parent_user_id"] = self.parent_user_id
        return contact

    def sender_fields(self) -> dict[str, str]:
        """``from`` / ``from_user_id`` of an inbound message."""
        fields: dict[str, str] = {}
        if self.shows_phone:
            fields["from"] = self.wa_id
        if self.user_id:
            fields["from_user_id"] = self.user_id
        return fields

    def recipient_fields(self, *, sent_to_phone: bool) -> dict[str, str]:
        """``recipient_id`` / ``recipient_user_id`` / ``recipient_parent_user_id`` of a status."""
        fields: dict[str, str] = {}
        if self.wa_id and (self.shows_phone or sent_to_phone):
            fields["recipient_id"] = self.wa_id
        if self.user_id:
            fields["recipient_user_id"] = self.user_id
        if self.parent_user_id:
            fields["recipient_parent_user_id"] = self.parent_user_id
        return fields


def validate_username_users(rules: Any) -> None:
    if not isinstance(rules, list):
        raise ValueError("username_users: expected a list of objects")
    for position, rule in enumerate(rules):
        if not isinstance(rule, dict) or not ("number" in rule or "suffix" in rule):
            raise ValueError(f"username_users[{position}]: needs 'number' or 'suffix'")
        for key in ("user_id", "parent_user_id"):
            if key in rule and not BSUID_RE.match(str(rule[key])):
                raise ValueError(f"username_users[{position}].{key}: {rule[key]!r} is not a BSUID such as 'US.1234567890'")
        country = str(rule.get("country", "US"))
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValueError(f"username_users[{position}].country: expected a two-letter code such as 'DE'")


def person_from_rule(rule: dict, wa_id: str) -> Person:
    user_id = str(rule.get("user_id") or derived_user_id(wa_id, str(rule.get("country", "US"))))
    return Person(
        wa_id=wa_id,
        user_id=user_id,
        parent_user_id=str(rule.get("parent_user_id", "")),
        username=str(rule.get("username", f"@user{wa_id[-4:]}")),
        hide_phone=bool(rule.get("hide_phone", True)),
        name=str(rule.get("name", "Sandbox user")),
    )
