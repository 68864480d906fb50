"""Support's admin pages, included under /admin/support/ (see consent/support_pages.py)."""

from django.contrib import admin
from django.urls import path

from conversations import support_pages

urlpatterns = [
    path("find/", admin.site.admin_view(support_pages.find_view), name="support-find"),
    path("inbox/", admin.site.admin_view(support_pages.inbox_view), name="support-inbox"),
    path("people/<int:contact_id>/", admin.site.admin_view(support_pages.timeline_view), name="support-timeline"),
    path("people/<int:contact_id>/assign/", admin.site.admin_view(support_pages.assign_view), name="support-assign"),
    path("people/<int:contact_id>/reply/", admin.site.admin_view(support_pages.reply_view), name="support-reply"),
]
