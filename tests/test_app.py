"""The app factory's contract: health check, and JSON (never HTML) for every error."""

import logging
import re

import pytest

from api.auth import requires
from core.permissions import PUBLIC

pytestmark = pytest.mark.postgres  # the app fixture migrates a real database


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_engine_is_exposed(app, database_url):
    engine = app.extensions["cpq_engine"]
    assert engine.dialect.name in {"sqlite", "postgresql"}
    assert app.extensions["cpq_settings"].database_url == database_url


def test_unknown_url_is_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]


def test_wrong_method_is_json_405_with_allow(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_crash_is_logged_and_json_500(app, caplog):
    @app.get("/boom")
    @requires(PUBLIC)
    def boom():
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_server_error"
    assert "secret detail" not in response.get_data(as_text=True)
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)


def test_the_openapi_document_describes_every_api_route(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "CPQ"
    assert "bearer" in spec["components"]["securitySchemes"]
    for path in ("/api/v1/quotes", "/api/v1/orders", "/api/v1/invoices/{invoice_id}", "/api/v1/pricing/quote"):
        assert path in spec["paths"], path
    assert "QuoteOut" in spec["components"]["schemas"]
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"/api/openapi.json" in page.data


def test_the_api_documentation_page_needs_nothing_from_the_internet(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/api/docs/assets/") for a in assets), assets
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.data) > 1000, asset
    assert client.get("/api/docs/assets/../../../etc/passwd").status_code == 404
