"""Dependency vulnerability audit for CI (`make audit`): pip-audit over the installed packages.

Fails (exit 1) when a package has a known vulnerability. When PyPI's advisory service cannot be
reached, or does not know some packages, it says so in a WARNING and does not fail: an outage of
that service must not block a change, and the warning keeps the gap visible.
"""

from __future__ import annotations

import json
import subprocess
import sys

TIMEOUT_SECONDS = 300


def judge(returncode: int, stdout: str, stderr: str) -> tuple[int, str]:
    """The exit code and message for one pip-audit run (``--format json`` output on stdout)."""
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        last_lines = "\n".join(stderr.strip().splitlines()[-5:]) or f"pip-audit exited with {returncode}"
        return 0, (
            "WARNING: dependencies were NOT audited: pip-audit could not get an answer from PyPI's advisory "
            f"service (no network?).\n{last_lines}"
        )
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    if vulnerable:
        lines = [
            f"  {d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'})"
            for d in vulnerable
            for v in d["vulns"]
        ]
        return 1, "Known vulnerabilities in the installed dependencies:\n" + "\n".join(lines) + "\nUpgrade the pins in requirements*.txt."
    skipped = sorted(d["name"] for d in dependencies if d.get("skip_reason"))
    audited = len(dependencies) - len(skipped)
    message = f"No known vulnerabilities in {audited} audited packages."
    if skipped:
        message += (
            f"\nWARNING: {len(skipped)} of {len(dependencies)} packages could not be audited "
            f"(PyPI's advisory service does not know these versions): {', '.join(skipped)}"
        )
    return 0, message


def main() -> int:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off", "--skip-editable"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"WARNING: dependencies were NOT audited: pip-audit got no answer within {TIMEOUT_SECONDS} s.")
        return 0
    code, message = judge(result.returncode, result.stdout, result.stderr)
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
