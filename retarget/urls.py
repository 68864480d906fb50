from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("consent.api_urls")),
    path("api/v1/", include("whatsapp.api_urls")),
    path("api/v1/", include("campaigns.api_urls")),
    path("webhooks/", include("whatsapp.urls")),
    path("", include("consent.urls")),
    path("", include("campaigns.urls")),
]
