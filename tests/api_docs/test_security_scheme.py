"""The API's token authentication (agri.api.authentication) is documented by its extension in api_docs.schema."""

from django.utils import translation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator

from agri.api.authentication import TokenAuthentication
from api_docs.schema import TokenScheme


def test_the_token_authentication_has_its_security_scheme():
    assert isinstance(OpenApiAuthenticationExtension.get_match(TokenAuthentication()), TokenScheme)


def test_the_schema_documents_the_token_header():
    with translation.override("en"):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"]["knoxApiToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert {"knoxApiToken": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]
