"""Demo data for `make run`: an admin login, one user per role, an opt-in page, opted-in contacts and a pending web opt-in.

The opted-in people come with the business's own records as evidence (an import of checkout
consents, an integration's API call): a web form alone never opts anyone in.
"""

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from consent.models import ConsentState, OptInForm, Purpose
from consent.services import Evidence, consent_grant, contact_upsert
from core.audit import Actor

DEMO_PASSWORD = "retarget-demo"
# phone, name, language, attributes, tags, where the business's record of the opt-in came from
DEMO_CONTACTS = [
    ("+4915123456701", "Ana", "de", {"city": "Berlin"}, ["vip"], "import"),
    ("+4915123456702", "Ben", "de", {"city": "Hamburg"}, [], "import"),
    ("+14155550103", "Cleo", "en_US", {"city": "San Francisco"}, ["vip"], "api"),
    ("+447911123104", "Dev", "en_GB", {"city": "London"}, [], "api"),
    ("+34612345105", "Eva", "es", {"city": "Madrid"}, [], "import"),
]
EVIDENCE_NOTES = {
    "import": "Imported from the shop's customer records: WhatsApp box ticked at checkout, order records kept by the shop.",
    "api": "Sent by the shop's system through the API: opt-in given in the customer account settings.",
}


class Command(BaseCommand):
    help = "Create demo users, an opt-in page, opted-in contacts and a pending web opt-in (safe to run repeatedly)."

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
        for phone, name, language, attributes, tags, source in DEMO_CONTACTS:
            contact, _ = contact_upsert(phone=phone, name=name, language=language, attributes=attributes, tags=tags)
            if not ConsentState.objects.filter(contact=contact).exists():
                consent_grant(
                    contact=contact,
                    source=source,
                    evidence=Evidence(notice_text=form.notice_text, notice_version=form.notice_version, note=EVIDENCE_NOTES[source]),
                    actor=actor,
                    can_lift_suppression=False,  # as imports and the API do
                )
        # Lives with the opt-in page in the conversations app, which this app does not import.
        call_command("demo_pending_optin", slug=form.slug, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin:  http://127.0.0.1:8000/admin/   user admin / password {DEMO_PASSWORD}")
        self.stdout.write(f"  Roles:  marketer, approver, support    (password {DEMO_PASSWORD})")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")
