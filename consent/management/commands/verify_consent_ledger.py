from django.core.management.base import BaseCommand, CommandError

from consent.ledger import ledger_verify


class Command(BaseCommand):
    help = "Check the consent ledger's hash chain and report the first broken link (exit code 1 when broken)."

    def handle(self, *args, **options) -> None:
        report = ledger_verify()
        if report.first_break is not None:
            raise CommandError(f"{report.first_break.describe()} ({report.events_checked} events before it are intact)")
        self.stdout.write(self.style.SUCCESS(f"ledger intact: {report.events_checked} events"))
