from django.core.management.base import BaseCommand, CommandParser

from consent.retention import retention_apply


class Command(BaseCommand):
    help = (
        "Delete or empty personal details older than their retention period (MESSAGE_DETAIL_RETENTION_DAYS, "
        "INBOUND_TEXT_RETENTION_DAYS, EVENT_RETENTION_DAYS, WHATSAPP_WEBHOOK_RETENTION_DAYS), in bounded batches. "
        "Beat runs the same every day."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per statement (default RETENTION_BATCH_SIZE).")
        parser.add_argument(
            "--time-budget", type=float, default=None, help="Stop after this many seconds (default RETENTION_TIME_BUDGET_SECONDS)."
        )

    def handle(self, *args, batch_size: int | None, time_budget: float | None, **options) -> None:
        for result in retention_apply(batch_size=batch_size, time_budget_seconds=time_budget):
            state = "done" if result.finished else "stopped by the time budget: run again"
            self.stdout.write(f"{result.kind}: {result.rows} rows in {result.batches} batches ({state})")
