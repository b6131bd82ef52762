"""Property-based: nothing generated from the app's own OpenAPI schema makes it answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from ragqa.settings import Settings
from service.config import engine_from_settings
from service.main import create_app
from tests.service.conftest import ADMIN, Service

# The schema is read at collection time from an app whose engine is swapped for a ready one below.
APP = create_app(Settings(), engine=engine_from_settings(Settings()), start=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _ready_engine(shared_service: Service) -> None:
    APP.state.engine = shared_service.engine


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_never_a_server_error(case) -> None:
    # With the admin token, so that admin operations are exercised past authentication.
    response = case.call(headers=ADMIN)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        assert isinstance(response.json().get("detail"), str)
