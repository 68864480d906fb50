from django.urls import path

from consent.apis import ConsentRecordApi, ContactConsentListApi, ContactDetailApi, ContactListUpsertApi

urlpatterns = [
    path("contacts", ContactListUpsertApi.as_view(), name="api-contacts"),
    path("contacts/<int:contact_id>", ContactDetailApi.as_view(), name="api-contact"),
    path("contacts/<int:contact_id>/consents", ContactConsentListApi.as_view(), name="api-contact-consents"),
    path("consents", ConsentRecordApi.as_view(), name="api-consents"),
]
