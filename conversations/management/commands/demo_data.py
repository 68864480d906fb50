"""`make run`'s demo: the whole product with data (every app's demo module; conversations is the top layer)."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns import demo as campaigns_demo
from consent import demo as consent_demo
from conversations import demo as conversations_demo
from core.audit import Actor

# Who is who among the demo people (consent/demo.py numbers them): most opted in through the shop's
# records, some through the opt-in page and WhatsApp, the last few only browsed (no consent).
BUSINESS_OPT_INS = slice(0, 240)
WEB_OPT_INS = slice(240, 285)


class Command(BaseCommand):
    help = "Create the demo: users per role, opted-in people, behaviour, a segment, campaigns with results, an inbox (safe to run again)."

    def handle(self, *args, **options):
        now = timezone.now()
        with transaction.atomic():
            staff = consent_demo.demo_staff()
            form = consent_demo.demo_optin_form()
            people = consent_demo.demo_people()
            actor = Actor(user=staff.admin, label="demo data")
            consent_demo.demo_business_opt_ins(people[BUSINESS_OPT_INS], actor=actor)
            conversations_demo.demo_web_opt_ins(form, people[WEB_OPT_INS], now=now)

            template = campaigns_demo.demo_templates()
            campaigns_demo.demo_events(people, now=now)
            segment = campaigns_demo.demo_segment(actor=Actor(user=staff.marketer))
            audience = campaigns_demo.demo_audience(segment, among=people[BUSINESS_OPT_INS])
            finished = campaigns_demo.demo_finished_campaign(
                template=template, segment=segment, audience=audience, author=staff.marketer, approver=staff.approver, now=now
            )
            replies, opt_outs = conversations_demo.demo_replies_and_opt_outs(finished.messages)
            waiting = campaigns_demo.demo_waiting_campaign(template=template, segment=segment, author=staff.marketer, now=now)
            test_number = campaigns_demo.demo_test_number(staff.marketer)
            conversations_demo.demo_web_opt_ins(form, [test_number.contact], now=now)
            conversations_demo.demo_inbox(finished.messages[0].contact, now=now)
        # Lives with the opt-in page in the conversations app.
        call_command("demo_pending_optin", slug=form.slug, stdout=self.stdout)

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin:     http://127.0.0.1:8000/admin/   user admin / password {consent_demo.DEMO_PASSWORD}")
        self.stdout.write(f"  Roles:     marketer, approver, support    (password {consent_demo.DEMO_PASSWORD})")
        self.stdout.write(f"  Campaigns: “{finished.campaign.name}” finished, “{waiting.name}” waiting for the approver")
        self.stdout.write(f"  Numbers:   national numbers are read as {settings.PHONE_DEFAULT_REGION or 'nothing (set PHONE_DEFAULT_REGION)'}; opt-in page http://127.0.0.1:8000/optin/{form.slug}/")
        self.stdout.write("  API docs:  http://127.0.0.1:8000/api/docs/")

