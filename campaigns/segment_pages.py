"""JSON endpoints of the segment admin's visual builder (campaigns/static/campaigns/segment_builder.js).

SegmentAdmin.get_urls wires them into the admin: same login and permissions as the segment pages.
"""

from __future__ import annotations

import json

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from campaigns.segment_builder import segment_preview, segment_vocabulary
from campaigns.segments import SegmentQueryTimeout, SegmentRuleError


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm("campaigns.view_segment"):
        raise PermissionDenied


@require_GET
def vocabulary_view(request: HttpRequest, model_admin: ModelAdmin) -> JsonResponse:
    """Event names, property keys and values, attributes, tags, countries... the builder offers."""
    _require_view(request)
    return JsonResponse(segment_vocabulary())


@require_POST
def preview_view(request: HttpRequest, model_admin: ModelAdmin) -> JsonResponse:
    """Count unsaved rules: ``{"count", "sample"}``, or ``{"path", "message"}`` naming the bad part."""
    _require_view(request)
    try:
        rules = json.loads(request.body)["rules"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"path": "", "message": 'Send {"rules": ...} as JSON.'}, status=400)
    try:
        preview = segment_preview(rules)
    except SegmentRuleError as exc:
        return JsonResponse({"path": exc.path, "message": exc.detail, "limit": exc.limit}, status=400)
    except SegmentQueryTimeout as exc:
        return JsonResponse({"path": "", "message": str(exc), "limit": exc.limit}, status=503)
    return JsonResponse({"count": preview.count, "sample": preview.sample})
