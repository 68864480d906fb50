from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Contacts and consent"

    def ready(self) -> None:
        from consent.models import ConsentEvent, ConsentState, Contact, LedgerHead, OptInForm, Purpose, Suppression, Tag
        from consent.personal_data import PersonalData, personal_data_none, personal_data_register
        from core.models import AuditEntry, AuditHead

        # Exported and erased by consent.rights itself (the ledger keeps its chain verifiable).
        personal_data_register(PersonalData(name="consent", models=(Contact, ConsentEvent, ConsentState, Suppression, AuditEntry)))
        personal_data_none(
            Tag, Purpose, OptInForm, LedgerHead, AuditHead, reason="the business's own labels, purposes, pages and the chains' heads"
        )
