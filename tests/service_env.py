"""Pytest plugin loaded first (``-p tests.service_env``): points the suite at real services.

``DATABASE_URL``/``REDIS_URL`` win when set. Otherwise the local PostgreSQL and Redis are used when
they answer, and SQLite plus the filesystem broker when they do not; tests that need a real
service are then skipped with a reason starting "service missing:" (see tests/conftest.py).
"""

from __future__ import annotations

import os
import socket


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ and _answers("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/retarget"
if "REDIS_URL" not in os.environ and _answers("127.0.0.1", 6379):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retarget.settings")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("DEBUG", "0")
# Production settings (DEBUG off) against the WhatsApp sandbox on this machine: the explicit opt-in that
# allows the sandbox's URL and ids, and the embedded broker when Redis is missing (retarget/settings.py).
os.environ.setdefault("WHATSAPP_SANDBOX", "1")
os.environ.setdefault("SUPPRESSION_HASH_KEY", "test-suppression-hash-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("WHATSAPP_ACCESS_TOKEN", "test-access-token")
os.environ.setdefault("WHATSAPP_APP_SECRET", "test-app-secret")
os.environ.setdefault("WHATSAPP_VERIFY_TOKEN", "test-verify-token")
os.environ.setdefault("PHONE_DEFAULT_REGION", "")
os.environ.setdefault("RETARGET_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
