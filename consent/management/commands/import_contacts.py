from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.imports import ImportFileError, RowProblem, contacts_import
from core.audit import Actor


class Command(BaseCommand):
    help = (
        "Import contacts (and their opt-ins) from a UTF-8 CSV file. Columns: phone, name, language, tags "
        "(separated by ;), consent_source, consent_opted_in_at, consent_notice_version, consent_notice_text, "
        "consent_evidence; any other column becomes an attribute. Bad rows are reported and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", help="Username the import is recorded under in the ledger and audit log.")

    def handle(self, *args, file: Path, user: str | None, **options) -> None:
        actor = Actor(label="import_contacts command")
        if user:
            try:
                account = get_user_model().objects.get_by_natural_key(user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.") from None
            actor = Actor(user=account, label=f"import_contacts by {user}")

        def report_problem(problem: RowProblem) -> None:
            self.stderr.write(str(problem))

        try:
            with file.open(encoding="utf-8-sig", newline="") as stream:
                report = contacts_import(file=stream, actor=actor, file_name=file.name, on_problem=report_problem)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except ImportFileError as exc:
            raise CommandError(f"{file.name}: {exc} Nothing was imported.") from None
        self.stdout.write(report.summary)
        if report.file_error:
            raise CommandError(f"{file.name}: stopped {report.file_error} The rows before it were imported.")
