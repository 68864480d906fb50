from tests.consent.conftest import (  # noqa: F401
    _fast_password_hashing,
    admin_client_for,
    api_client,
    new_visitor_ip,
    superuser,
    visitor_ip,
)
