import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from core.roles import (
    ROLE_FORBIDDEN,
    ROLE_PERMISSIONS,
    SUPPORT,
    RoleTableError,
    role_permissions_check,
    role_permissions_grant,
)


def _codenames(group: Group, app_label: str) -> set[str]:
    return set(group.permissions.filter(content_type__app_label=app_label).values_list("codename", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Marketer", "Approver", "Support"])
def test_each_role_holds_the_consent_permissions_of_the_table(role):
    assert _codenames(Group.objects.get(name=role), "consent") == set(ROLE_PERMISSIONS["consent"][role])


@pytest.mark.django_db
def test_every_permission_in_the_table_exists_after_migrating():
    for app_label, roles in ROLE_PERMISSIONS.items():
        for role, codenames in roles.items():
            existing = set(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames).values_list(
                    "codename", flat=True
                )
            )
            assert existing == set(codenames), f"{role}: unknown {app_label} permissions {set(codenames) - existing}"


@pytest.mark.django_db
def test_no_role_holds_a_forbidden_permission():
    for role, forbidden in ROLE_FORBIDDEN.items():
        held = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=role).permissions.all()}
        assert not held & set(forbidden)


def test_a_table_granting_support_campaign_approval_is_refused():
    table = {"campaigns": {SUPPORT: ("view_campaign", "approve_campaign")}}
    with pytest.raises(RoleTableError, match="Support must never hold campaigns.approve_campaign"):
        role_permissions_check(table)


@pytest.mark.django_db
def test_granting_creates_missing_permissions_before_adding_them():
    """A later app's migration runs before post_migrate has created its permissions."""
    Permission.objects.filter(content_type__app_label="consent", codename="import_contacts").delete()

    role_permissions_grant(apps, app_label="consent")

    assert "import_contacts" in _codenames(Group.objects.get(name="Marketer"), "consent")


@pytest.mark.postgres
@pytest.mark.django_db
def test_roles_keep_their_permissions_after_a_flush():
    """Transactional tests flush the database; the next test still needs working roles."""
    call_command("flush", interactive=False, verbosity=0)

    assert _codenames(Group.objects.get(name="Support"), "consent") == set(ROLE_PERMISSIONS["consent"]["Support"])
