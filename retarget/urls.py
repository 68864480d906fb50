from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns.admin_pages import guide_view
from retarget.site_pages import favicon_view, home_view

urlpatterns = [
    # Purpose-built admin pages outside any one model's admin (same login and permissions).
    path("admin/guide/", admin.site.admin_view(guide_view), name="admin-guide"),
    path("admin/support/", include("conversations.support_urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("consent.api_urls")),
    path("api/v1/", include("whatsapp.api_urls")),
    path("api/v1/", include("campaigns.api_urls")),
    path("webhooks/", include("whatsapp.urls")),
    path("", home_view, name="home"),
    path("favicon.ico", favicon_view, name="favicon"),
    path("", include("consent.urls")),
    path("", include("conversations.urls")),
    path("", include("campaigns.urls")),
]
