from consent.management.commands.verify_records import Command as VerifyRecordsCommand


class Command(VerifyRecordsCommand):
    """The command's first name, kept for cron jobs and runbooks that call it (see verify_records)."""
