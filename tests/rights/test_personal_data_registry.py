"""Every model of ours is accounted for by the personal-data registry: export and erasure cannot miss one."""

from __future__ import annotations

from django.apps import apps

from consent.personal_data import models_covered, personal_data_entries

OUR_APPS = ("core", "whatsapp", "consent", "campaigns", "conversations")


def test_every_model_of_ours_is_registered_or_declared_free_of_personal_data():
    covered = models_covered()
    unaccounted = [
        model._meta.label
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.label not in covered
    ]
    assert unaccounted == [], (
        "These models are in no app's personal-data registration: register them in the owning app's "
        "AppConfig.ready() with consent.personal_data.personal_data_register (export, erase, retention) "
        f"or declare them with personal_data_none(..., reason=...): {unaccounted}"
    )


def test_every_app_that_holds_data_about_people_exports_and_erases_it():
    by_name = {entry.name: entry for entry in personal_data_entries()}
    for name in ("campaigns", "conversations"):
        assert by_name[name].export is not None and by_name[name].erase is not None, name
    kinds = {rule.kind for entry in by_name.values() for rule in entry.retention}
    assert kinds == {"message_details", "inbound_texts", "events", "webhook_payloads", "webhook_receipts", "unconfirmed_optin_requests"}
