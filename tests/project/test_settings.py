"""Settings come from the environment and refuse malformed values by name."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whatsapp.sandbox.server import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "k7#pQ2-production-like-secret-with-enough-length-and-variety-9x!Zr",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "retarget.example.com",
    "SUPPRESSION_HASH_KEY": "s9!Lq-suppression-hash-key-production-like-0123456789",
    "REDIS_URL": "redis://127.0.0.1:6379/3",
    "WHATSAPP_ACCESS_TOKEN": "token",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
    "WHATSAPP_PHONE_NUMBER_ID": "123456789012345",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "987654321098765",
    "WHATSAPP_GRAPH_URL": "https://graph.facebook.com",
}
# Set by the environment of the test run itself (tests/service_env.py); each test states its own.
_OWN_VARIABLES = (
    "WHATSAPP_", "SECRET_KEY", "SUPPRESSION_HASH_KEY", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS", "SECURE_", "DJANGO_",
    "TRUSTED_PROXIES", "BEHIND_TLS_PROXY",
)


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
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
        ("WHATSAPP_API_VERSION", "21.0", "WHATSAPP_API_VERSION: expected a version like v26.0"),
        ("PHONE_DEFAULT_REGION", "Germany", "PHONE_DEFAULT_REGION: expected a two-letter region code"),
        ("WHATSAPP_DISPLAY_NUMBER", "call us", "WHATSAPP_DISPLAY_NUMBER: expected our number in international form"),
        ("TRUSTED_PROXIES", "10.0.0.1, proxy.internal", "TRUSTED_PROXIES: expected IP addresses or networks"),
        ("TRUSTED_PROXIES", "10.0.0.1/8", "TRUSTED_PROXIES: expected IP addresses or networks"),
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


def test_in_development_without_database_and_redis_urls_the_embedded_defaults_are_used(tmp_path):
    env = {"DEBUG": "1", "DATABASE_URL": "", "REDIS_URL": ""}
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=env, tmp_path=tmp_path)
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"], result.stderr


SANDBOX = SandboxConfig()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SUPPRESSION_HASH_KEY", None, "SUPPRESSION_HASH_KEY: required when DEBUG is off"),
        ("REDIS_URL", None, "REDIS_URL: required when DEBUG is off"),
        ("REDIS_URL", "", "REDIS_URL: required when DEBUG is off"),
        ("WHATSAPP_GRAPH_URL", "http://127.0.0.1:8765", "WHATSAPP_GRAPH_URL: http://127.0.0.1:8765 is not Meta's Graph API"),
        ("WHATSAPP_GRAPH_URL", "http://sandbox:8765", "WHATSAPP_GRAPH_URL: http://sandbox:8765 is not Meta's Graph API"),
        ("WHATSAPP_GRAPH_URL", "https://localhost:8765", "WHATSAPP_GRAPH_URL: https://localhost:8765 is not Meta's Graph API"),
        ("WHATSAPP_PHONE_NUMBER_ID", SANDBOX.phone_number_id, "WHATSAPP_PHONE_NUMBER_ID: '100000000000001' is the WhatsApp sandbox's value"),
        ("WHATSAPP_BUSINESS_ACCOUNT_ID", SANDBOX.waba_id, "WHATSAPP_BUSINESS_ACCOUNT_ID: '200000000000002' is the WhatsApp sandbox's value"),
        ("WHATSAPP_ACCESS_TOKEN", SANDBOX.access_token, "WHATSAPP_ACCESS_TOKEN: 'sandbox-token' is the WhatsApp sandbox's value"),
        ("WHATSAPP_APP_SECRET", SANDBOX.app_secret, "WHATSAPP_APP_SECRET: 'sandbox-app-secret' is the WhatsApp sandbox's value"),
        ("WHATSAPP_VERIFY_TOKEN", "sandbox-verify-token", "WHATSAPP_VERIFY_TOKEN: 'sandbox-verify-token' is the WhatsApp sandbox's value"),
        ("WHATSAPP_PHONE_NUMBER_ID", None, "WHATSAPP_PHONE_NUMBER_ID: required when DEBUG is off"),
        ("WHATSAPP_APP_SECRET", None, "WHATSAPP_APP_SECRET: required when DEBUG is off"),
        ("BEHIND_TLS_PROXY", "1", "TRUSTED_PROXIES: required with BEHIND_TLS_PROXY=1"),
    ],
)
def test_production_start_up_refuses_missing_keys_and_the_sandbox_naming_the_variable(tmp_path, variable, value, message):
    env = without(PRODUCTION_ENV, variable) if value is None else {**PRODUCTION_ENV, variable: value}

    result = manage("check", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr, result.stderr[-2000:]


def test_the_missing_suppression_key_message_says_how_an_older_install_keeps_its_list(tmp_path):
    result = manage("check", env=without(PRODUCTION_ENV, "SUPPRESSION_HASH_KEY"), tmp_path=tmp_path)

    assert "An install that ran without it hashed with SECRET_KEY: set SUPPRESSION_HASH_KEY to that value" in result.stderr


def test_suppression_hashes_depend_on_the_suppression_key_only(tmp_path):
    code = "from consent.services import suppression_hash; print(suppression_hash('+4915123456789'))"
    key = PRODUCTION_ENV["SUPPRESSION_HASH_KEY"]

    hashes = {
        manage("shell", "--no-imports", "-c", code, env={**PRODUCTION_ENV, "SECRET_KEY": secret}, tmp_path=tmp_path).stdout.strip()
        for secret in ("first-secret-key-" + "a" * 50, "rotated-secret-key-" + "b" * 50)
    }

    # The same HMAC as before the key became required: suppression lists of existing installs still match.
    assert hashes == {hmac.new(key.encode(), b"+4915123456789", hashlib.sha256).hexdigest()}


def test_the_sandbox_opt_in_is_refused_unless_the_sandbox_is_on_this_machine(tmp_path):
    env = {**PRODUCTION_ENV, "WHATSAPP_SANDBOX": "1"}

    refused = manage("check", env=env, tmp_path=tmp_path)

    assert refused.returncode != 0
    assert (
        "WHATSAPP_SANDBOX: allowed with DEBUG off only for a sandbox on this machine (a loopback address), "
        "but WHATSAPP_GRAPH_URL is https://graph.facebook.com"
    ) in refused.stderr


def test_a_test_stack_opts_in_to_the_sandbox_on_this_machine(tmp_path):
    sandbox_ids = {"WHATSAPP_PHONE_NUMBER_ID": SANDBOX.phone_number_id, "WHATSAPP_ACCESS_TOKEN": SANDBOX.access_token}
    env = {**without(PRODUCTION_ENV, "REDIS_URL", "WHATSAPP_GRAPH_URL"), **sandbox_ids, "WHATSAPP_SANDBOX": "1"}
    code = "from django.conf import settings; print(settings.WHATSAPP_GRAPH_URL, settings.CELERY_BROKER_URL)"

    for graph_url in (None, "http://127.0.0.1:48765", "http://localhost:8765", "http://[::1]:8765"):
        run_env = env if graph_url is None else {**env, "WHATSAPP_GRAPH_URL": graph_url}
        result = manage("shell", "--no-imports", "-c", code, env=run_env, tmp_path=tmp_path)
        assert result.stdout.split() == [graph_url or "http://127.0.0.1:8765", "filesystem://"], result.stderr[-2000:]


def test_development_needs_none_of_the_production_keys(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(settings.WHATSAPP_GRAPH_URL, settings.WHATSAPP_PHONE_NUMBER_ID, settings.CELERY_BROKER_URL, "
        "bool(settings.SUPPRESSION_HASH_KEY))"
    )

    result = manage("shell", "--no-imports", "-c", code, env={"DEBUG": "1"}, tmp_path=tmp_path)

    assert result.stdout.split() == ["http://127.0.0.1:8765", SANDBOX.phone_number_id, "filesystem://", "True"], result.stderr
    assert manage("check", env={"DEBUG": "1"}, tmp_path=tmp_path).returncode == 0


def test_meta_is_the_default_graph_api_in_production(tmp_path):
    code = "from django.conf import settings; print(settings.WHATSAPP_GRAPH_URL)"

    result = manage("shell", "--no-imports", "-c", code, env=without(PRODUCTION_ENV, "WHATSAPP_GRAPH_URL"), tmp_path=tmp_path)

    assert result.stdout.strip() == "https://graph.facebook.com", result.stderr


@pytest.mark.parametrize("debug", ["1", "0"])
def test_importing_the_settings_creates_no_file_or_folder(tmp_path, debug):
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARIABLES)}
    env.update(PRODUCTION_ENV if debug == "0" else {"DEBUG": "1", "REDIS_URL": ""}, RETARGET_VAR_DIR=str(var_dir))
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'retarget.settings'; django.setup()"

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert not var_dir.exists()


def test_the_celery_app_makes_the_embedded_brokers_folders_when_a_task_is_sent(tmp_path):
    code = "from retarget.celery import app; app.send_task('retarget.no_such_task'); print('sent')"

    result = manage("shell", "--no-imports", "-c", code, env={"DEBUG": "1", "REDIS_URL": ""}, tmp_path=tmp_path / "var")

    assert result.stdout.strip() == "sent", result.stderr[-2000:]
    assert len(list((tmp_path / "var" / "broker" / "out").iterdir())) == 1


def test_a_malformed_rate_card_stops_start_up_naming_the_file_and_the_row(tmp_path):
    card = tmp_path / "rates.csv"
    card.write_text(
        "market,countries,currency,marketing,utility,authentication,authentication_international,service\n"
        "Germany,DE,EUR,0.1300,0.0500,0.0400,,0\n"
        "France,FR,EUR,0,08,0.0300,0.0300,,0\n"  # a decimal comma splits the rate in two
    )

    result = manage("check", env={**PRODUCTION_ENV, "WHATSAPP_RATE_CARD_FILE": str(card)}, tmp_path=tmp_path)

    assert result.returncode != 0
    assert (
        f"ImproperlyConfigured: WHATSAPP_RATE_CARD_FILE: {card}, row 3: 9 values, more than the header's 8 columns."
        in result.stderr
    ), result.stderr[-2000:]
