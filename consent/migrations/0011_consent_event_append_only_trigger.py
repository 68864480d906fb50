# The consent ledger becomes append-only in the database too (issue 12): a PostgreSQL trigger
# refuses UPDATE, DELETE and TRUNCATE, except an erasure blanking one contact's personal evidence.

from django.db import migrations

from core.append_only import ERASURE_SETTING, append_only_trigger_operation, unchanged_except_sql

ERASABLE = ("page_url", "ip_address", "user_agent", "note", "evidence_erased_at")
# The erasure names its contact; only its events, only once, and the evidence must end up blank.
ERASURE_CHECK = (
    f"OLD.contact_id::text = current_setting('{ERASURE_SETTING}', true) AND {unchanged_except_sql(ERASABLE)}"
    " AND OLD.evidence_erased_at IS NULL AND NEW.evidence_erased_at IS NOT NULL"
    " AND NEW.page_url = '' AND NEW.ip_address IS NULL AND NEW.user_agent = '' AND NEW.note = ''"
)


class Migration(migrations.Migration):
    dependencies = [("consent", "0010_contact_bsuid")]

    operations = [
        append_only_trigger_operation(table="consent_consentevent", function="consent_event_append_only", erasure_check=ERASURE_CHECK)
    ]
