from tests.consent.conftest import _fast_password_hashing, admin_client_for, api_client, new_visitor_ip, superuser, visitor_ip  # noqa: F401
