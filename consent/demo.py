"""Demo data of the consent layer (`make run`): staff users, the opt-in page and people opted in by import or API.

The opted-in people come with the business's own records as evidence (an import of checkout consents,
an integration's API call), dated when they gave it: a web form alone never opts anyone in (the confirmed
web opt-ins are made in conversations/demo.py). Every function is idempotent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from consent.models import ConsentAction, ConsentSource, ConsentState, Contact, OptInForm, Purpose
from consent.phones import phone_normalize
from consent.services import ConsentChange, Evidence, consent_record_many, contact_upsert
from core.audit import Actor
from core.roles import APPROVER, MARKETER, SUPPORT

DEMO_PASSWORD = "retarget-demo"
DEMO_COUNTRY = "DE"  # the demo business sells in Germany: national numbers are read as German ones
DEMO_PEOPLE = 300
DEMO_SEED = 15
NOTICE_VERSION = "2026-11"
NOTICE_TEXT = (
    "Yes, Acme Shoes may send me offers, restock alerts and news on WhatsApp, up to 4 messages a month. "
    "I can reply STOP at any time."
)
EVIDENCE_NOTES = {
    ConsentSource.IMPORT: "Imported from the shop's customer records: WhatsApp box ticked at checkout, order records kept by the shop.",
    ConsentSource.API: "Sent by the shop's system through the API: opt-in given in the customer account settings.",
}
FIRST_NAMES = (
    "Ana", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Klara", "Leon", "Mia", "Noah",
    "Olivia", "Paul", "Rosa", "Simon", "Tara", "Umut", "Vera", "Willi", "Yara", "Zoe", "Elif", "Mehmet", "Sofia", "Luca",
)  # fmt: skip
LAST_NAMES = (
    "Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch", "Richter",
    "Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Zimmermann", "Hartmann", "Krüger", "Lange", "Yilmaz", "Kaya",
)  # fmt: skip
CITIES = ("Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig", "Stuttgart", "Dresden")


@dataclass(frozen=True)
class DemoStaff:
    admin: User
    marketer: User
    approver: User
    support: User


def demo_staff() -> DemoStaff:
    """The admin and one user per role (password DEMO_PASSWORD), with e-mail addresses for the approval mails."""
    admin, created = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@acme-shoes.example"}
    )
    if created:
        admin.set_password(DEMO_PASSWORD)
        admin.save()
    users = {}
    for username, group in (("marketer", MARKETER), ("approver", APPROVER), ("support", SUPPORT)):
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "email": f"{username}@acme-shoes.example", "first_name": username.title()}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.add(Group.objects.get_or_create(name=group)[0])
        users[username] = user
    return DemoStaff(admin=admin, **users)


def demo_optin_form() -> OptInForm:
    form, _ = OptInForm.objects.get_or_create(
        slug="acme",
        defaults={
            "business_name": "Acme Shoes",
            "message_description": "offers, restock alerts and news",
            "frequency": "up to 4 messages a month",
            "privacy_policy_url": "https://acme-shoes.example/privacy",
            "notice_text": NOTICE_TEXT,
            "notice_version": NOTICE_VERSION,
            "purpose": Purpose.objects.get_or_create(code=Purpose.MARKETING, defaults={"name": "Marketing"})[0],
            "country": DEMO_COUNTRY,
        },
    )
    return form


def demo_phone(n: int) -> str:
    """The n-th demo number: German mobiles (+49 1512 345xxxx), reserved for the demo."""
    return phone_normalize(f"+49 1512 345{n:04d}")


def demo_people(count: int = DEMO_PEOPLE) -> list[Contact]:
    """``count`` people with names, languages, cities and tags (the same ones on every run)."""
    rng = random.Random(DEMO_SEED)
    people = []
    for n in range(1, count + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        city = rng.choice(CITIES)
        tags = ["vip"] if rng.random() < 0.1 else []
        contact, _ = contact_upsert(phone=demo_phone(n), name=name, language="de", attributes={"city": city}, tags=tags)
        people.append(contact)
    return people


def demo_business_opt_ins(people: list[Contact], *, actor: Actor, now: datetime | None = None) -> int:
    """Opt the people without any consent record in, from the shop's records (import or API), 20 to 120 days ago.

    Returns how many were recorded now (none on a second run).
    """
    now = now or timezone.now()
    rng = random.Random(DEMO_SEED + 1)
    recorded = set(ConsentState.objects.filter(contact__in=people).values_list("contact_id", flat=True))
    changes = []
    for contact in people:
        source = ConsentSource.IMPORT if rng.random() < 0.55 else ConsentSource.API
        occurred_at = now - timedelta(days=rng.uniform(20, 120))
        if contact.pk in recorded:
            continue
        evidence = Evidence(notice_text=NOTICE_TEXT, notice_version=NOTICE_VERSION, note=EVIDENCE_NOTES[source])
        changes.append(ConsentChange(contact=contact, action=ConsentAction.OPT_IN, source=source, evidence=evidence, occurred_at=occurred_at))
    consent_record_many(changes=changes, actor=actor, can_lift_suppression=False)  # as imports and the API do
    return len(changes)
