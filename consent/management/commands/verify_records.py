from django.core.management.base import BaseCommand, CommandError

from consent.ledger import consent_states_verify, ledger_verify
from core.audit_verify import audit_log_verify


class Command(BaseCommand):
    help = (
        "Check the consent ledger's and the audit log's hash chains and that every consent state matches its "
        "events; report the first break of each (exit code 1 when anything is broken). Keep the printed head "
        "hashes somewhere else: a later run that does not extend them shows a rewrite of the whole chain."
    )

    def handle(self, *args, **options) -> None:
        checks = (
            ("ledger", "events", ledger_verify()),
            ("audit log", "entries", audit_log_verify()),
            ("consent states", "states", consent_states_verify()),
        )
        broken = []
        for name, unit, report in checks:
            if report.first_break is None:
                head = f", head {report.head_hash}" if name != "consent states" else ""
                self.stdout.write(self.style.SUCCESS(f"{name} intact: {report.checked} {unit}{head}"))
            else:
                broken.append(f"{report.first_break.describe()} ({report.checked} {unit} before it are intact)")
        if broken:
            raise CommandError("\n".join(broken))
