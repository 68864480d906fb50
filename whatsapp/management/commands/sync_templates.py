"""``manage.py sync_templates``: store the account's WhatsApp templates."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from whatsapp.client import WhatsAppError
from whatsapp.template_sync import template_sync


class Command(BaseCommand):
    help = "Fetch every message template from the WhatsApp Cloud API and store it (missing ones become DELETED)."

    def handle(self, *args, **options):
        try:
            result = template_sync()
        except WhatsAppError as exc:
            raise CommandError(f"Could not fetch the templates: {exc}. Check WHATSAPP_GRAPH_URL and WHATSAPP_ACCESS_TOKEN.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Templates synced: {result.created} new, {result.updated} updated, {result.deleted} marked deleted."
            )
        )
