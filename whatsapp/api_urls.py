from django.urls import path

from whatsapp.apis import TemplateListApi

urlpatterns = [
    path("templates", TemplateListApi.as_view(), name="api-templates"),
]
