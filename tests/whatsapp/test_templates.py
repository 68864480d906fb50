"""Template sync (command and beat task), template webhooks and GET /api/v1/templates."""

from __future__ import annotations

import copy

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import payload
from whatsapp.models import MessageTemplate
from whatsapp.sandbox.catalog import default_templates
from whatsapp.tasks import templates_sync_task

pytestmark = pytest.mark.django_db


def test_sync_templates_stores_every_template_with_its_parameters(sandbox, capsys):
    call_command("sync_templates")

    assert "11 new, 0 updated, 0 marked deleted" in capsys.readouterr().out
    assert MessageTemplate.objects.count() == 11
    sale = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    assert (sale.category, sale.status, sale.quality_score, sale.external_id) == ("MARKETING", "APPROVED", "GREEN", "900000000000001")
    assert sale.parameter_names == ["1", "2"] and sale.parameter_format == "POSITIONAL"
    assert (sale.url_button_index, sale.url_button_base) == (0, "https://shop.example.com/r/")
    assert sale.body_text.startswith("Hi {{1}}")
    assert sale.is_sendable and sale.needs_marketing_consent
    paused = MessageTemplate.objects.get(name="restock_alert")
    assert (paused.status, paused.is_sendable) == ("PAUSED", False)
    utility = MessageTemplate.objects.get(name="order_shipped")
    assert (utility.category, utility.needs_marketing_consent, utility.url_button_index) == ("UTILITY", False, None)
    named = MessageTemplate.objects.get(name="welcome_back")
    assert (named.parameter_format, named.parameter_names) == ("NAMED", ["first_name", "discount_code"])
    assert MessageTemplate.objects.get(name="black_friday_teaser").status_reason == "PROMOTIONAL"


def test_sync_follows_paging_and_marks_vanished_templates_deleted(sandbox):
    many = []
    for i in range(130):  # more than one page of 100
        template = copy.deepcopy(default_templates()[3])
        template.update(id=str(910000000000000 + i), name=f"order_shipped_{i:03d}")
        many.append(template)
    sandbox.configure(templates=many)
    templates_sync_task()
    assert MessageTemplate.objects.count() == 130

    sandbox.configure(templates=many[5:])
    templates_sync_task()

    assert MessageTemplate.objects.filter(status="DELETED").count() == 5
    assert set(MessageTemplate.objects.filter(status="DELETED").values_list("name", flat=True)) == {f"order_shipped_{i:03d}" for i in range(5)}
    assert MessageTemplate.objects.exclude(status="DELETED").count() == 125


def test_sync_updates_a_changed_template(sandbox):
    call_command("sync_templates")
    templates = default_templates()
    templates[0]["status"] = "PAUSED"
    templates[0]["quality_score"] = {"score": "RED"}
    sandbox.configure(templates=templates)

    call_command("sync_templates")

    sale = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    assert (sale.status, sale.quality_score) == ("PAUSED", "RED")
    assert MessageTemplate.objects.count() == 11


def test_a_failed_sync_says_why_and_changes_nothing(sandbox, settings):
    call_command("sync_templates")
    settings.WHATSAPP_ACCESS_TOKEN = "wrong"

    with pytest.raises(CommandError, match="#190"):
        call_command("sync_templates")
    templates_sync_task()  # the periodic task logs and carries on
    assert MessageTemplate.objects.filter(status="APPROVED").count() == 9


def test_template_status_and_quality_webhooks_update_the_stored_template(sandbox, deliver):
    call_command("sync_templates")

    deliver(payload("template_status_update.json"))
    sale = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    assert (sale.status, sale.is_sendable) == ("PAUSED", False)

    deliver(payload("template_quality_update.json"))
    sale.refresh_from_db()
    assert sale.quality_score == "YELLOW"

    deliver(payload("template_status_update.json", {"PAUSED": "REINSTATED"}))
    sale.refresh_from_db()
    assert sale.status == "APPROVED"


def test_a_rejected_template_keeps_the_reason(sandbox, deliver):
    call_command("sync_templates")
    deliver(payload("template_status_update.json", {"PAUSED": "REJECTED", "NONE": "INCORRECT_CATEGORY"}))

    sale = MessageTemplate.objects.get(name="spring_sale", language="en_US")
    assert (sale.status, sale.status_reason) == ("REJECTED", "INCORRECT_CATEGORY")


def test_the_templates_api_lists_templates_with_their_status_for_staff(sandbox, marketer, support):
    call_command("sync_templates")
    api = APIClient()
    for user in (marketer, support):
        api.force_authenticate(user)
        response = api.get("/api/v1/templates")
        assert response.status_code == 200
        assert response.json()["count"] == 11

    api.force_authenticate(marketer)
    approved = api.get("/api/v1/templates", {"status": "approved", "category": "marketing"}).json()["results"]
    assert {(t["name"], t["language"]) for t in approved} == {
        ("spring_sale", "en_US"), ("spring_sale", "de"), ("welcome_back", "en_US"),
        ("summer_drop", "en_US"), ("trail_picks_carousel", "en_US"), ("flash_offer", "en_US"), ("vip_invite", "en_US"),
    }  # fmt: skip
    sale = next(t for t in approved if t["language"] == "en_US" and t["name"] == "spring_sale")
    assert sale["sendable"] is True and sale["parameter_count"] == 2 and sale["status"] == "APPROVED"


def test_the_templates_api_refuses_anonymous_and_roleless_users(sandbox, outsider):
    api = APIClient()
    assert api.get("/api/v1/templates").status_code in (401, 403)
    api.force_authenticate(outsider)
    assert api.get("/api/v1/templates").status_code == 403


def test_a_status_for_a_template_we_do_not_know_triggers_a_sync(sandbox, client, django_capture_on_commit_callbacks):
    from tests.factories import post_webhook, process_pending_deliveries

    post_webhook(client, payload("template_status_update.json", {"PAUSED": "APPROVED"}))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        process_pending_deliveries()
    assert len(callbacks) == 1
    templates_sync_task()  # what the queued task does
    assert MessageTemplate.objects.get(name="spring_sale", language="en_US").status == "APPROVED"
