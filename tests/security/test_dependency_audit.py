"""`make audit` fails on a known vulnerability and only warns when the advisory service cannot answer."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit_dependencies.py"
_spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def report(*dependencies: dict) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_a_known_vulnerability_fails_and_names_the_fix():
    code, message = audit.judge(
        1, report({"name": "django", "version": "5.2.0", "vulns": [{"id": "PYSEC-2026-1", "fix_versions": ["5.2.1"]}]}), ""
    )

    assert code == 1
    assert "django 5.2.0: PYSEC-2026-1 (fixed in 5.2.1)" in message


def test_packages_the_service_does_not_know_are_listed_in_a_warning():
    code, message = audit.judge(
        0, report({"name": "celery", "version": "5.7.0", "vulns": []}, {"name": "kombu", "version": "9.9", "skip_reason": "not found"}), ""
    )

    assert code == 0
    assert "No known vulnerabilities in 1 audited packages" in message
    assert "WARNING: 1 of 2 packages could not be audited" in message and "kombu" in message


def test_an_unreachable_advisory_service_warns_without_failing():
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}

    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=280)

    assert result.returncode == 0
    assert "WARNING: dependencies were NOT audited" in result.stdout
