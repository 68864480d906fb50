"""Settings come from the environment and refuse malformed values by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "k7#pQ2-production-like-secret-with-enough-length-and-variety-9x!Zr",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "retarget.example.com",
    "WHATSAPP_ACCESS_TOKEN": "token",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
    "WHATSAPP_GRAPH_URL": "https://graph.facebook.com",
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SECURE_", "DJANGO_"))}
    base.update({"RETARGET_VAR_DIR": str(tmp_path), **env})
    base.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_values(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG: expected one of"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL: expected a URL starting with"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected a URL starting with"),
        ("WHATSAPP_READ_TIMEOUT", "soon", "WHATSAPP_READ_TIMEOUT: expected a number"),
        ("WHATSAPP_API_VERSION", "21.0", "WHATSAPP_API_VERSION: expected a version like v21.0"),
        ("PHONE_DEFAULT_REGION", "Germany", "PHONE_DEFAULT_REGION: expected a two-letter region code"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    result = manage("check", env={**PRODUCTION_ENV, variable: value}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_is_required_unless_debug_is_on(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    refused = manage("check", env=env, tmp_path=tmp_path)
    assert "SECRET_KEY: required when DEBUG is off" in refused.stderr
    assert manage("check", env={**env, "DEBUG": "1"}, tmp_path=tmp_path).returncode == 0


def test_secrets_can_be_read_from_file_paths(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("from-a-file-" + "x" * 60 + "\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECRET_KEY)",
        env={**env, "SECRET_KEY_FILE": str(secret_file)}, tmp_path=tmp_path,
    )
    assert result.stdout.strip() == "from-a-file-" + "x" * 60
    missing = manage("check", env={**env, "SECRET_KEY_FILE": str(tmp_path / "nope")}, tmp_path=tmp_path)
    assert "SECRET_KEY_FILE: cannot read" in missing.stderr


def test_without_database_and_redis_urls_the_embedded_defaults_are_used(tmp_path):
    env = {**PRODUCTION_ENV, "DATABASE_URL": "", "REDIS_URL": ""}
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=env, tmp_path=tmp_path)
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"], result.stderr
