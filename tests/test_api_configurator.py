"""The /api/v1 configurator endpoints through the Flask test client: happy paths, and a
4xx JSON error naming the field for every kind of bad input (never a 500)."""

from __future__ import annotations

import pytest

from catalog.loader import load_model_dict
from catalog.store import save_model
from auth_helpers import sign_as
from core.db import session_scope
from sample_models import LARGE, LARGE_TOTAL, lamp, lamp_source

pytestmark = pytest.mark.postgres

API = "/api/v1"


@pytest.fixture
def api(app, client):
    """A client with lamp versions 1 and 2 loaded (v2 adds a `metal` shade)."""
    v2 = lamp_source(version=2)
    v2["attributes"][3]["values"].append("metal")
    with session_scope(app.extensions["cpq_engine"]) as session:
        save_model(session, lamp())
        save_model(session, load_model_dict(v2))
    sign_as(app, client)
    return client


def post(client, path, body):
    return client.post(f"{API}{path}", json=body)


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()["error"]


# ---- product models ------------------------------------------------------------------------

def test_list_products(api):
    response = api.get(f"{API}/products")
    assert response.status_code == 200
    assert response.get_json() == [{"product": "lamp", "name": "Desk Lamp", "description": "A lamp for tests.",
                                    "latest_version": 2, "versions": [1, 2]}]


def test_latest_model_and_a_given_version(api):
    latest = api.get(f"{API}/products/lamp").get_json()
    assert latest["version"] == 2
    assert "metal" in next(a for a in latest["attributes"] if a["id"] == "shade")["domain"]
    v1 = api.get(f"{API}/products/lamp/versions/1").get_json()
    assert v1["version"] == 1 and v1["cost_currency"] == "EUR"
    assert [g["id"] for g in v1["groups"]] == ["body", "light"]
    base, bulbs, dimmer, shade = v1["attributes"]
    assert base["values"][1] == {"code": "large", "label": "Large base", "description": "",
                                 "properties": {"cost": "25", "watts": "90"}, "image": ""}
    assert (base["default"], base["group"], base["type"]) == ("small", "body", "enum")
    assert (bulbs["min"], bulbs["max"], bulbs["step"], bulbs["domain"]) == (1, 3, 1, [1, 2, 3])
    assert dimmer["domain"] == [False, True]
    assert shade["optional"] and shade["domain"] == ["none", "linen", "glass", "ghost"]
    assert v1["rules"][0] == {"id": "large_needs_dimmer", "message": "A large base needs a dimmer.",
                              "kind": "requires", "source": "if base = large then dimmer", "messages": {}}


def test_unknown_product_and_version_are_404(api):
    assert "unknown product 'nope'" in error_of(api.get(f"{API}/products/nope"), 404)["message"]
    assert error_of(api.get(f"{API}/products/lamp/versions/9"), 404)["code"] == "not_found"
    assert error_of(post(api, "/products/nope/configure", {}), 404)["code"] == "not_found"
    assert error_of(post(api, "/products/lamp/bom", {"version": 9}), 404)["code"] == "not_found"


@pytest.mark.parametrize("path", [f"/products/lamp/versions/{10**20}", "/products/%C3%A9%00",
                                  "/configurations/%00", f"/configurations/{'y' * 300}"])
def test_lookups_the_database_cannot_hold_are_404(api, path):
    assert error_of(api.get(f"{API}{path}"), 404)["code"] == "not_found"


def test_a_version_the_database_cannot_hold_is_422_naming_it(api):
    """In a body it is a field with documented bounds, not an address (tests/test_hostile_input.py)."""
    assert list(error_of(post(api, "/products/lamp/configure", {"version": 2**40}), 422)["fields"]) == ["version"]


# ---- configure -----------------------------------------------------------------------------

def test_configure_narrows_the_domains(api):
    body = post(api, "/products/lamp/configure", {"selections": {"base": "large"}, "version": 1}).get_json()
    assert (body["product"], body["version"], body["valid"], body["complete"]) == ("lamp", 1, True, False)
    assert body["selections"] == {"base": "large"} and body["applied"] == ["base"]
    attrs = {a["id"]: a for a in body["attributes"]}
    assert attrs["base"]["label"] == "Base" and attrs["base"]["group"] == "body"
    assert attrs["dimmer"] == {"id": "dimmer", "label": "Dimmer", "group": "light", "selected": None,
                               "value": True, "decided": True, "domain": [True],
                               "excluded": [{"value": False, "reason": None}]}
    assert attrs["shade"]["domain"] == ["none", "linen", "glass"]
    assert body["conflicts"] == []


def test_configure_explains_excluded_values_when_asked(api):
    body = post(api, "/products/lamp/configure",
                {"selections": {"base": "large"}, "explain": True}).get_json()
    dimmer = next(a for a in body["attributes"] if a["id"] == "dimmer")
    reason = dimmer["excluded"][0]["reason"]
    assert reason["selections"] == {"base": "large"}
    assert reason["rules"] == [{"id": "large_needs_dimmer", "message": "A large base needs a dimmer."}]
    assert reason["message"] == "base=large: A large base needs a dimmer."


def test_configure_reports_conflicts_as_a_result(api):
    body = post(api, "/products/lamp/configure",
                {"selections": {"base": "small", "bulbs": 3}}).get_json()
    assert body["valid"] is False and body["complete"] is False
    assert body["conflicts"][0]["rules"][0]["id"] == "small_bulbs"
    assert body["conflicts"][0]["selections"] == {"base": "small", "bulbs": 3}


def test_configure_defaults_to_no_selections(api):
    body = post(api, "/products/lamp/configure", {}).get_json()
    assert body["valid"] is True and body["selections"] == {}


# ---- explain, complete, bom ----------------------------------------------------------------

def test_a_request_builds_no_argument_schema(api, monkeypatch):
    """The argument schemas are made once, when the views are declared, not per request."""
    from api.schemas import ConfigureRequest

    made = []
    monkeypatch.setattr(ConfigureRequest, "__init__", lambda self, *a, **kw: made.append(self))
    assert post(api, "/products/lamp/configure", {"selections": {"base": "large"}}).status_code == 200
    assert made == []


def test_explain(api):
    body = post(api, "/products/lamp/explain",
                {"selections": {"base": "large"}, "attribute": "dimmer", "value": False}).get_json()
    assert (body["attribute"], body["value"], body["possible"]) == ("dimmer", False, False)
    assert body["conflict"]["rules"][0]["id"] == "large_needs_dimmer"
    body = post(api, "/products/lamp/explain",
                {"selections": {}, "attribute": "shade", "value": None}).get_json()
    assert (body["value"], body["possible"], body["conflict"]) == ("none", True, None)


def test_complete_prefers_defaults_then_the_minimum(api):
    body = post(api, "/products/lamp/complete", {"selections": {"dimmer": True}}).get_json()
    assert body == {"valid": True, "conflicts": [],
                    "assignment": {"base": "small", "bulbs": 1, "dimmer": True, "shade": "none"}}
    body = post(api, "/products/lamp/complete",
                {"selections": {"bulbs": 3}, "minimize": "cost", "version": 1}).get_json()
    assert body["assignment"] == LARGE  # 3 bulbs only fit the large base, which needs the dimmer
    body = post(api, "/products/lamp/complete",
                {"selections": {"base": "large", "dimmer": False}, "minimize": "cost"}).get_json()
    assert body["valid"] is False and body["conflicts"][0]["rules"][0]["id"] == "large_needs_dimmer"


def test_bom_of_a_complete_configuration(api):
    response = post(api, "/products/lamp/bom", {"selections": LARGE, "version": 1})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["total_cost"], body["cost_currency"]) == (LARGE_TOTAL, "EUR")
    assert body["total_weight"] == "2.79"  # 2.5 + 4 x 0.01 + 3 x 0.05 + 0.1
    base = body["lines"][0]
    assert {k: base[k] for k in ("part", "level", "quantity", "unit_cost", "extended_cost")} == {
        "part": "BASE-L", "level": 1, "quantity": "1", "unit_cost": "31.00", "extended_cost": "31.00"}
    assert base["children"][0]["part"] == "FOOT" and base["children"][0]["extended_quantity"] == "4"
    flat = {line["part"]: line for line in body["flat"]}
    assert flat["BULB"] == {"part": "BULB", "description": "LED bulb", "uom": "EA", "quantity": "3",
                            "unit_cost": "3.10", "extended_cost": "9.30"}


def test_bom_of_an_incomplete_configuration_is_422(api):
    error = error_of(post(api, "/products/lamp/bom", {"selections": {"base": "large"}}), 422)
    assert error["code"] == "incomplete_configuration"
    assert error["undecided"] == ["bulbs", "shade"]
    assert "bulbs, shade" in error["fields"]["selections"][0]


def test_bom_of_an_invalid_configuration_is_422_with_conflicts(api):
    error = error_of(post(api, "/products/lamp/bom", {"selections": {**LARGE, "dimmer": False}}), 422)
    assert error["code"] == "invalid_configuration"
    assert error["conflicts"][0]["rules"][0]["id"] == "large_needs_dimmer"


# ---- changing one's mind, languages, pictures -----------------------------------------------

def test_switch_proposes_the_fewest_selections_to_drop_with_labels(api):
    body = post(api, "/products/lamp/switch", {"selections": {"base": "small", "dimmer": False, "shade": "linen"},
                                               "attribute": "base", "value": "large"}).get_json()
    assert body == {"attribute": "base", "label": "Base", "value": "large", "value_label": "Large base",
                    "possible": True,
                    "removes": [{"attribute": "dimmer", "label": "Dimmer", "value": False, "value_label": "No"}],
                    "selections": {"base": "large", "shade": "linen"}}
    dead = post(api, "/products/lamp/switch", {"attribute": "shade", "value": "ghost"}).get_json()
    assert dead["possible"] is False and dead["removes"] == [] and dead["selections"] == {}


def test_rule_messages_in_the_language_asked_with_english_as_fallback(app, api):
    source = lamp_source(version=3)
    source["rules"][0]["message"] = {"en": "A large base needs a dimmer.",
                                     "fr": "Un grand socle exige un variateur."}
    with session_scope(app.extensions["cpq_engine"]) as session:
        save_model(session, load_model_dict(source))

    def reason(lang):
        body = post(api, "/products/lamp/configure",
                    {"selections": {"base": "large"}, "explain": True, "lang": lang}).get_json()
        dimmer = next(a for a in body["attributes"] if a["id"] == "dimmer")
        return dimmer["excluded"][0]["reason"]["rules"][0]["message"]

    assert reason("fr") == "Un grand socle exige un variateur."
    assert reason("de") == reason("en") == "A large base needs a dimmer."
    explained = post(api, "/products/lamp/explain", {"selections": {"base": "large"}, "attribute": "dimmer",
                                                     "value": False, "lang": "fr"}).get_json()
    assert explained["conflict"]["rules"][0]["message"] == "Un grand socle exige un variateur."


def test_the_configurator_answers_in_french_labels_and_messages(app, api):
    source = lamp_source(version=3, name={"en": "Desk Lamp", "fr": "Lampe de bureau"})
    source["groups"][0]["label"] = {"en": "Body", "fr": "Corps"}
    base, _, dimmer, _ = source["attributes"]
    base["label"] = {"en": "Base", "fr": "Socle", "de": "Fuß"}
    base["values"][1]["label"] = {"en": "Large base", "fr": "Grand socle"}
    dimmer["label"] = {"en": "Dimmer", "fr": "Variateur"}
    source["rules"][0]["message"] = {"en": "A large base needs a dimmer.", "fr": "Un grand socle exige un variateur."}
    with session_scope(app.extensions["cpq_engine"]) as session:
        save_model(session, load_model_dict(source))

    model = api.get(f"{API}/products/lamp?lang=fr").get_json()
    assert (model["name"], model["groups"][0]["label"], model["attributes"][0]["label"]) == ("Lampe de bureau", "Corps", "Socle")
    assert [v["label"] for v in model["attributes"][0]["values"]] == ["Small base", "Grand socle"]   # English where not translated
    assert model["rules"][0]["message"] == "Un grand socle exige un variateur."
    assert model["rules"][0]["messages"] == {"en": "A large base needs a dimmer.", "fr": "Un grand socle exige un variateur."}
    assert api.get(f"{API}/products/lamp/versions/3?lang=de").get_json()["attributes"][0]["label"] == "Fuß"
    assert api.get(f"{API}/products/lamp").get_json()["attributes"][0]["label"] == "Base"

    body = post(api, "/products/lamp/configure", {"selections": {"base": "large"}, "explain": True, "lang": "fr"}).get_json()
    attrs = {a["id"]: a for a in body["attributes"]}
    assert (attrs["base"]["label"], attrs["dimmer"]["label"]) == ("Socle", "Variateur")
    assert attrs["dimmer"]["excluded"][0]["reason"]["rules"][0]["message"] == "Un grand socle exige un variateur."

    switched = post(api, "/products/lamp/switch", {"selections": {"base": "small", "dimmer": False}, "attribute": "base",
                                                   "value": "large", "lang": "fr"}).get_json()
    assert (switched["label"], switched["value_label"]) == ("Socle", "Grand socle")
    assert switched["removes"] == [{"attribute": "dimmer", "label": "Variateur", "value": False, "value_label": "Non"}]
    error = error_of(api.get(f"{API}/products/lamp?lang=xx"), 422)
    assert list(error["fields"]) == ["lang"]


def test_pictures_of_the_product_and_its_values(app, api):
    source = lamp_source(version=3, image="/static/lamp.png")
    source["attributes"][0]["values"][0]["image"] = "https://example.com/small.png"
    with session_scope(app.extensions["cpq_engine"]) as session:
        save_model(session, load_model_dict(source))
    body = api.get(f"{API}/products/lamp").get_json()
    assert body["image"] == "/static/lamp.png"
    assert [v["image"] for v in body["attributes"][0]["values"]] == ["https://example.com/small.png", ""]


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field", "reason"), [
    ("configure", {"selections": {"colour": "red"}}, "selections.colour", "unknown attribute"),
    ("configure", {"selections": {"base": "huge"}}, "selections.base",
     "unknown value 'huge'; expected one of small, large"),
    ("configure", {"selections": {"bulbs": 9}}, "selections.bulbs", "9 is outside 1..3"),
    ("configure", {"selections": {"dimmer": "maybe"}}, "selections.dimmer", "expected true or false"),
    ("configure", {"selections": {"bulbs": [1]}}, "selections.bulbs", "expected a single value"),
    ("configure", {"selections": ["base"]}, "selections", "expected an object"),
    ("configure", {"selections": {}, "version": "2"}, "version", "Not a valid integer"),
    ("configure", {"selections": {}, "version": 0}, "version", "greater than or equal to 1"),
    ("configure", {"selections": {}, "explain": "perhaps"}, "explain", "Not a valid boolean"),
    ("configure", {"selection": {}}, "selection", "Unknown field"),
    ("configure", ["base"], "body", "Invalid input type"),
    ("explain", {"selections": {}, "value": "large"}, "attribute", "Missing data"),
    ("explain", {"selections": {}, "attribute": "colour", "value": "red"}, "attribute", "unknown attribute"),
    ("explain", {"selections": {}, "attribute": "base", "value": "huge"}, "value", "unknown value 'huge'"),
    ("complete", {"selections": {}, "minimize": 3}, "minimize", "Not a valid string"),
    ("complete", {"selections": {}, "minimize": "price"}, "minimize",
     "unknown property 'price'; expected one of cost, watts, weight"),
    ("bom", {"selections": {"base": {"x": 1}}}, "selections.base", "expected a single value"),
    ("switch", {"selections": {}, "attribute": "base"}, "value", "Missing data"),
    ("switch", {"selections": {}, "attribute": "colour", "value": "red"}, "attribute", "unknown attribute"),
    ("switch", {"selections": {"base": "huge"}, "attribute": "dimmer", "value": True}, "selections.base",
     "unknown value 'huge'"),
    ("configure", {"selections": {}, "lang": "xx"}, "lang", "Must be one of"),
])
def test_bad_input_is_422_naming_the_field(api, path, body, field, reason):
    error = error_of(post(api, f"/products/lamp/{path}", body), 422)
    assert error["code"] in {"validation_error", "invalid_selection"}
    assert list(error["fields"]) == [field]
    assert reason in error["fields"][field][0]
    assert field in error["message"]


@pytest.mark.parametrize("data", ["{not json", '{"selections": ', "\xff"])
def test_malformed_json_is_400(api, data):
    response = api.post(f"{API}/products/lamp/configure", data=data, content_type="application/json")
    error = error_of(response, 400)
    assert error["code"] == "malformed_json" and error["fields"] == {"body": ["not valid JSON"]}


def test_a_json_body_without_content_type_is_still_read(api):
    response = api.post(f"{API}/products/lamp/configure", data='{"selections": {"base": "huge"}}')
    assert error_of(response, 422)["fields"] == {
        "selections.base": ["unknown value 'huge'; expected one of small, large"]}


# ---- saved configurations ------------------------------------------------------------------

def save(api, body):
    return post(api, "/configurations", body)


def test_save_and_get_a_configuration(api):
    response = save(api, {"product": "lamp", "version": 1, "selections": {"base": "large", "bulbs": 3, "shade": None}})
    assert response.status_code == 201
    saved = response.get_json()
    assert (saved["product"], saved["version"], saved["complete"]) == ("lamp", 1, True)
    assert saved["selections"] == {"base": "large", "bulbs": 3, "shade": "none"}
    assert saved["assignment"] == LARGE
    assert saved["created_at"].endswith("+00:00")
    assert api.get(f"{API}/configurations/{saved['id']}").get_json() == saved


def test_a_saved_configuration_records_the_latest_version_by_default(api):
    saved = save(api, {"product": "lamp", "selections": {"shade": "metal"}}).get_json()
    assert saved["version"] == 2 and saved["complete"] is False and saved["assignment"] is None
    # version 1 has no metal shade
    error = error_of(save(api, {"product": "lamp", "version": 1, "selections": {"shade": "metal"}}), 422)
    assert "selections.shade" in error["fields"]


def test_a_saved_configuration_is_immutable(api):
    saved = save(api, {"product": "lamp", "selections": {"base": "small"}}).get_json()
    path = f"{API}/configurations/{saved['id']}"
    for method in (api.put, api.patch, api.delete):
        assert error_of(method(path, json={"selections": {"base": "large"}}), 405)["code"] == "method_not_allowed"
    assert api.get(path).get_json() == saved


def test_saving_invalid_selections_is_422(api):
    error = error_of(save(api, {"product": "lamp", "selections": {"base": "large", "dimmer": False}}), 422)
    assert error["code"] == "invalid_configuration"
    assert error_of(save(api, {"selections": {}}), 422)["fields"] == {"product": ["Missing data for required field."]}
    assert error_of(save(api, {"product": "nope", "selections": {}}), 404)["code"] == "not_found"


def test_bom_of_a_saved_configuration_as_json_and_csv(api):
    saved = save(api, {"product": "lamp", "version": 1, "selections": LARGE}).get_json()
    body = api.get(f"{API}/configurations/{saved['id']}/bom").get_json()
    assert (body["version"], body["total_cost"]) == (1, LARGE_TOTAL)
    response = api.get(f"{API}/configurations/{saved['id']}/bom?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = response.get_data(as_text=True).splitlines()
    assert rows[0] == "part,description,uom,quantity,unit_cost,extended_cost,currency"
    assert "BULB,LED bulb,EA,3,3.10,9.30,EUR" in rows and len(rows) == 5
    query = error_of(api.get(f"{API}/configurations/{saved['id']}/bom?format=xml"), 422)
    assert list(query["fields"]) == ["format"]


def test_bom_of_an_incomplete_saved_configuration_is_422(api):
    saved = save(api, {"product": "lamp", "selections": {"base": "small"}}).get_json()
    error = error_of(api.get(f"{API}/configurations/{saved['id']}/bom"), 422)
    assert error["code"] == "incomplete_configuration"


def test_unknown_configuration_is_404(api):
    assert error_of(api.get(f"{API}/configurations/nope"), 404)["code"] == "not_found"
    assert error_of(api.get(f"{API}/configurations/nope/bom"), 404)["code"] == "not_found"
