from django.urls import path

from consent.apis import (
    ConsentRecordApi,
    ContactConsentListApi,
    ContactDetailApi,
    ContactEraseApi,
    ContactExportApi,
    ContactListUpsertApi,
    TokenRevokeApi,
)

urlpatterns = [
    path("contacts", ContactListUpsertApi.as_view(), name="api-contacts"),
    path("contacts/<int:contact_id>", ContactDetailApi.as_view(), name="api-contact"),
    path("contacts/<int:contact_id>/consents", ContactConsentListApi.as_view(), name="api-contact-consents"),
    path("contacts/<int:contact_id>/export", ContactExportApi.as_view(), name="api-contact-export"),
    path("contacts/<int:contact_id>/erase", ContactEraseApi.as_view(), name="api-contact-erase"),
    path("consents", ConsentRecordApi.as_view(), name="api-consents"),
    path("auth/token/revoke", TokenRevokeApi.as_view(), name="api-token-revoke"),
]
