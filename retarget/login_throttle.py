"""django-axes' failure limit (AXES_FAILURE_LIMIT): two limits over its two lockout criteria.

Axes compares one limit with the largest count among AXES_LOCKOUT_PARAMETERS ([username + address],
[username]), which is always the username's count over every address. So the limit is chosen per attempt:
LOGIN_FAILURE_LIMIT once this username has failed that often from this address (locks that pair only),
else LOGIN_USERNAME_FAILURE_LIMIT (locks the username everywhere: guessing spread over many addresses).
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

from core.client_ip import client_ip


def login_failure_limit(request: HttpRequest, credentials: dict | None = None) -> int:
    if not hasattr(request, "axes_attempt_time"):  # not a login attempt axes has looked at
        return settings.LOGIN_FAILURE_LIMIT
    recent = AccessAttempt.objects.filter(
        username=get_client_username(request, credentials),
        ip_address=getattr(request, "axes_ip_address", None) or client_ip(request),
        attempt_time__gte=get_cool_off_threshold(request),
    )
    failures_from_here = recent.aggregate(total=Sum("failures_since_start"))["total"] or 0
    if failures_from_here >= settings.LOGIN_FAILURE_LIMIT:
        return settings.LOGIN_FAILURE_LIMIT
    return settings.LOGIN_USERNAME_FAILURE_LIMIT
