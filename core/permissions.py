"""API permission: authenticated and holding the Django permissions a view lists for the method."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class HasRequiredPermissions(BasePermission):
    """Grants a request when its user holds every permission ``view.required_permissions`` lists.

    ``required_permissions = {"GET": ("consent.view_contact",), "POST": (...)}``. HEAD and OPTIONS
    need what GET needs; a method the view does not list is refused. Roles (auth groups) give
    users these permissions: see consent/roles.py.
    """

    message = "Your account's role does not allow this; ask an administrator for the right role."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        required = getattr(view, "required_permissions", {}).get(method)
        return required is not None and user.has_perms(required)
