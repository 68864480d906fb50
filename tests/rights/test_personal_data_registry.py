"""Every model of ours is accounted for by export, erasure and retention, or declared to hold no personal data."""

from __future__ import annotations

from django.apps import apps

from consent.personal_data import models_covered

OUR_APPS = ("core", "whatsapp", "consent", "campaigns", "conversations")


def test_every_model_is_registered_with_its_personal_data_or_declared_without():
    covered = models_covered()
    missing = sorted(
        model._meta.label for app in OUR_APPS for model in apps.get_app_config(app).get_models() if model._meta.label not in covered
    )
    assert not missing, (
        f"models neither registered with personal_data_register nor declared with personal_data_none: {missing}; "
        "a person's data in them would escape export, erasure and retention"
    )
