"""The ledger, current states, suppressions and the audit log cannot be edited in the admin, not even by a superuser."""

import pytest

from consent.models import ConsentEvent, ConsentState, Suppression
from consent.services import consent_grant, consent_revoke, contact_upsert
from core.audit import Actor
from core.models import AuditEntry
from tests.factories import NOTICE

pytestmark = pytest.mark.django_db

MODELS = {
    "consent/consentevent": ConsentEvent,
    "consent/consentstate": ConsentState,
    "consent/suppression": Suppression,
    "core/auditentry": AuditEntry,
}


@pytest.fixture
def history(superuser, support):
    ana, _ = contact_upsert(phone="+4915123456789", name="Ana")
    consent_grant(contact=ana, source="web_form", evidence=NOTICE, actor=Actor(user=superuser))
    consent_revoke(contact=ana, source="support", actor=Actor(user=support, ip_address="192.0.2.10"))
    return ana


@pytest.mark.parametrize("model", MODELS)
def test_a_superuser_can_read_but_not_add_change_or_delete(admin_client_for, superuser, history, model):
    client = admin_client_for(superuser)
    obj = MODELS[model].objects.first()
    base = f"/admin/{model}/"

    listing = client.get(base)
    assert listing.status_code == 200
    assert f'href="{base}add/"' not in listing.content.decode()
    detail = client.get(f"{base}{obj.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()

    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{obj.pk}/change/", {}).status_code == 403
    assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}).status_code in (200, 302)
    assert MODELS[model].objects.filter(pk=obj.pk).exists()


def test_support_reads_the_audit_log_filtered_by_action_and_actor(admin_client_for, support, history):
    client = admin_client_for(support)

    by_action = client.get("/admin/core/auditentry/", {"action": "consent.opt_out"})
    by_actor = client.get("/admin/core/auditentry/", {"actor__id__exact": support.pk})

    assert [e.action for e in by_action.context["cl"].result_list] == ["consent.opt_out"]
    # Newest first: support's own sign-in to the admin (also audit-logged), then the opt-out.
    assert [(e.action, e.actor_label, e.ip_address) for e in by_actor.context["cl"].result_list] == [
        ("auth.login", "sue", None),
        ("consent.opt_out", "sue", "192.0.2.10"),
    ]


def test_a_suppression_is_found_by_the_number_it_hides(admin_client_for, support, history):
    client = admin_client_for(support)

    assert len(client.get("/admin/consent/suppression/", {"q": "+49 151 2345 6789"}).context["cl"].result_list) == 1
    assert len(client.get("/admin/consent/suppression/", {"q": "+447911123456"}).context["cl"].result_list) == 0


@pytest.mark.parametrize(("role", "status"), [("approver", 403), ("marketer", 403), ("support", 200)])
def test_only_support_reads_the_audit_log(request, admin_client_for, history, role, status):
    assert admin_client_for(request.getfixturevalue(role)).get("/admin/core/auditentry/").status_code == status
