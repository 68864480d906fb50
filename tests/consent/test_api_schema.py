import json

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_documents_each_contact_and_consent_endpoint(schema):
    operations = {
        (path, method): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }

    assert {
        ("/api/v1/contacts", "get"): "contact_list",
        ("/api/v1/contacts", "post"): "contact_upsert",
        ("/api/v1/contacts/{contact_id}", "get"): "contact_get",
        ("/api/v1/contacts/{contact_id}/consents", "get"): "contact_consent_list",
        ("/api/v1/consents", "post"): "consent_record",
    }.items() <= operations.items()


def test_the_schema_describes_inputs_and_outputs_and_is_valid_openapi(schema):
    components = schema["components"]["schemas"]
    assert {"phone", "action", "source", "evidence", "occurred_at"} <= set(components["ConsentRecord"]["properties"])
    assert components["Contact"]["properties"]["marketing_consent"]["allOf"] == [{"$ref": "#/components/schemas/MarketingConsentEnum"}]
    assert components["MarketingConsentEnum"]["enum"] == ["opted_in", "opted_out", "none"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert {"201", "400", "401", "403"} <= set(schema["paths"]["/api/v1/consents"]["post"]["responses"])
    validate_schema(schema)


def test_the_browsable_docs_page_is_served(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
