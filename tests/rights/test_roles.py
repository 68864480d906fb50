"""Only Support (and superusers) may export or erase a person; the role table refuses to grant it to others."""

import pytest
from django.contrib.auth.models import Group

from core.roles import APPROVER, MARKETER, RoleTableError, role_permissions_check


@pytest.mark.parametrize(("role", "codename"), [(MARKETER, "erase_contact"), (MARKETER, "export_contact"), (APPROVER, "erase_contact")])
def test_a_table_granting_erasure_or_export_outside_support_is_refused(role, codename):
    with pytest.raises(RoleTableError, match=f"{role} must never hold consent.{codename}"):
        role_permissions_check({"consent": {role: (codename,)}})


@pytest.mark.django_db
def test_support_answers_data_subject_requests_and_marketers_only_correct():
    def held(role: str) -> set[str]:
        return set(Group.objects.get(name=role).permissions.filter(codename__endswith="_contact").values_list("codename", flat=True))

    assert {"export_contact", "erase_contact", "rectify_contact"} <= held("Support")
    assert held("Marketer") & {"export_contact", "erase_contact", "delete_contact"} == set()
    assert "rectify_contact" in held("Marketer")
    assert held("Approver") & {"export_contact", "erase_contact", "rectify_contact"} == set()
