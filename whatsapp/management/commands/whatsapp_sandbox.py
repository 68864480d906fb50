"""``manage.py whatsapp_sandbox``: the fake Cloud API, configured from this project's settings."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from whatsapp.sandbox.__main__ import parse_config
from whatsapp.sandbox.server import run


class Command(BaseCommand):
    help = "Run the WhatsApp sandbox (a fake Cloud API that sends signed webhooks back to the app)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/webhooks/whatsapp")
        parser.add_argument("--latency", type=float, default=0.0)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--config", default="", help="more settings as a JSON object, or @file.json")

    def handle(self, *args, **options):
        if not settings.WHATSAPP_ACCESS_TOKEN or not settings.WHATSAPP_APP_SECRET:
            raise CommandError("Set WHATSAPP_ACCESS_TOKEN and WHATSAPP_APP_SECRET (DEBUG=1 gives sandbox defaults).")
        argv = [
            "--host", options["host"], "--port", str(options["port"]), "--webhook-url", options["webhook_url"],
            "--access-token", settings.WHATSAPP_ACCESS_TOKEN, "--app-secret", settings.WHATSAPP_APP_SECRET,
            "--phone-number-id", settings.WHATSAPP_PHONE_NUMBER_ID, "--waba-id", settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            "--latency", str(options["latency"]),
        ]  # fmt: skip
        if settings.WHATSAPP_APP_ID:
            argv += ["--app-id", settings.WHATSAPP_APP_ID]
        if options["seed"] is not None:
            argv += ["--seed", str(options["seed"])]
        if options["config"]:
            argv += ["--config", options["config"]]
        config, host, port = parse_config(argv)
        run(config, host=host, port=port)
