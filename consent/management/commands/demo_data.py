"""Demo data for `make run`: an admin login, one user per role, an opt-in page and opted-in contacts."""

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from consent.models import ConsentState, OptInForm, Purpose
from consent.services import Evidence, consent_grant, contact_upsert
from core.audit import Actor

DEMO_PASSWORD = "retarget-demo"
DEMO_CONTACTS = [
    ("+4915123456701", "Ana", "de", {"city": "Berlin"}, ["vip"]),
    ("+4915123456702", "Ben", "de", {"city": "Hamburg"}, []),
    ("+14155550103", "Cleo", "en_US", {"city": "San Francisco"}, ["vip"]),
    ("+447911123104", "Dev", "en_GB", {"city": "London"}, []),
    ("+34612345105", "Eva", "es", {"city": "Madrid"}, []),
]


class Command(BaseCommand):
    help = "Create demo users, an opt-in page and opted-in contacts (safe to run repeatedly)."

    @transaction.atomic
    def handle(self, *args, **options):
        admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
        for username, group in (("marketer", "Marketer"), ("approver", "Approver"), ("support", "Support")):
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
                user.groups.add(Group.objects.get(name=group))

        form, _ = OptInForm.objects.get_or_create(
            slug="acme",
            defaults={
                "business_name": "Acme Shoes",
                "message_description": "offers, restock alerts and news",
                "frequency": "up to 4 messages a month",
                "privacy_policy_url": "https://example.com/privacy",
                "notice_text": "Yes, Acme Shoes may send me offers, restock alerts and news on WhatsApp, "
                "up to 4 messages a month. I can reply STOP at any time.",
                "notice_version": "2026-11",
                "purpose": Purpose.objects.get(code=Purpose.MARKETING),
            },
        )
        actor = Actor(user=admin, label="demo data")
        for phone, name, language, attributes, tags in DEMO_CONTACTS:
            contact, _ = contact_upsert(phone=phone, name=name, language=language, attributes=attributes, tags=tags)
            if not ConsentState.objects.filter(contact=contact).exists():
                consent_grant(
                    contact=contact,
                    source="web_form",
                    evidence=Evidence(notice_text=form.notice_text, notice_version=form.notice_version, page_url="http://127.0.0.1:8000/optin/acme/"),
                    actor=actor,
                )
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin:  http://127.0.0.1:8000/admin/   user admin / password {DEMO_PASSWORD}")
        self.stdout.write(f"  Roles:  marketer, approver, support    (password {DEMO_PASSWORD})")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")
