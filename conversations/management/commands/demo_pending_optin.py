"""Demo: a sign-up on the opt-in page still waiting for the person's confirmation from WhatsApp."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from consent.models import OptInForm
from consent.services import Evidence, suppression_hash
from conversations.models import OptInConfirmation
from conversations.optin import optin_page_submit
from core.audit import Actor

DEMO_PENDING_PHONE = "+34612345106"


class Command(BaseCommand):
    help = "Add a pending web opt-in (signed up on the page, not yet confirmed from WhatsApp) unless one is open."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="acme", help="The opt-in page the demo person signed up on")

    def handle(self, *args, slug: str, **options):
        form = OptInForm.objects.select_related("purpose").filter(slug=slug).first()
        if form is None:
            raise CommandError(f"No opt-in page {slug!r}; run `manage.py demo_data` first.")
        already = OptInConfirmation.objects.filter(
            number_hash=suppression_hash(DEMO_PENDING_PHONE), confirmed_at__isnull=True, expires_at__gt=timezone.now()
        ).exists()
        if not already:
            optin_page_submit(
                form=form,
                phone=DEMO_PENDING_PHONE,
                evidence=Evidence(
                    notice_text=form.notice_text, notice_version=form.notice_version,
                    page_url=f"http://127.0.0.1:8000/optin/{form.slug}/", ip_address="203.0.113.7", user_agent="Demo browser",
                ),  # fmt: skip
                actor=Actor(label=f"opt-in page {form.slug}"),
            )
        self.stdout.write(f"  Pending web opt-in: {DEMO_PENDING_PHONE} on /optin/{form.slug}/ (not messaged until confirmed from WhatsApp)")
