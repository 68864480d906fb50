"""The campaign fixtures (templates, the everyone segment) serve the drill tests too."""

from tests.campaigns.conftest import everyone, spring_sale, templates  # noqa: F401
