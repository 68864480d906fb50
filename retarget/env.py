"""Typed readers for environment variables.

Every setting comes from the environment. A malformed value stops start-up with
an ImproperlyConfigured error that names the variable, so a typo never turns
into a silently wrong default. Secrets may also be read from a ``<NAME>_FILE``
path (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """A string, or the contents of the file named by ``<NAME>_FILE``."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path!r}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...]) -> str:
    """A URL whose scheme is one of ``schemes``; empty means "not set"."""
    # An empty value counts as unset, so `DATABASE_URL= make run` still means "the default".
    value = env_str(name).strip() or default
    if not value:
        return ""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        raise ImproperlyConfigured(
            f"{name}: expected a URL starting with one of {', '.join(s + '://' for s in schemes)}; got {value!r}"
        )
    return value


def env_networks(name: str) -> list[str]:
    """Comma-separated IP addresses or networks (``10.0.0.1``, ``172.16.0.0/12``, ``::1``), normalised."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(str(ipaddress.ip_network(item)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: expected IP addresses or networks like 10.0.0.1 or 172.16.0.0/12, got {item!r}"
            ) from None
    return networks
