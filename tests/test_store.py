"""Model versions and saved configurations in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from catalog import store
from catalog.loader import load_model_file
from configurator.engine import InvalidConfiguration
from configurator.results import SelectionError
from configurator.store import SavedConfiguration, get_configuration, save_configuration
from core.errors import ImmutableRecord, NotFound, VersionConflict
from core.settings import DEFAULT_DEMO_DIR
from sample_models import LARGE, lamp, write_lamp

pytestmark = pytest.mark.postgres


@pytest.fixture
def session(engine):
    with Session(engine) as session:  # never committed: each test has a fresh database
        yield session


def test_a_saved_model_is_rebuilt_from_its_source(session):
    model = lamp()
    row = store.save_model(session, model)
    assert (row.product, row.version, row.digest) == ("lamp", 1, model.digest)
    rebuilt = store.get_model(session, "lamp", 1)
    assert rebuilt.digest == model.digest
    assert rebuilt.attributes == model.attributes and rebuilt.rules == model.rules
    assert rebuilt.components == model.components


def test_saving_the_same_version_again_is_a_no_op(session):
    first = store.save_model(session, lamp())
    again = store.save_model(session, lamp())
    assert again.id == first.id
    assert len(session.exec(select(store.ModelVersion)).all()) == 1


def test_changing_a_loaded_version_is_a_conflict(session):
    store.save_model(session, lamp())
    with pytest.raises(VersionConflict, match="already loaded with different content"):
        store.save_model(session, lamp(name="Renamed lamp"))


def test_latest_version_and_lookup_errors(session):
    store.save_model(session, lamp())
    store.save_model(session, lamp(version=2, name="Desk Lamp II"))
    assert store.get_model(session, "lamp").version == 2
    assert store.get_model(session, "lamp", 1).name == "Desk Lamp"
    with pytest.raises(NotFound, match="unknown product 'nope'"):
        store.get_model(session, "nope")
    with pytest.raises(NotFound, match="product 'lamp' has no version 7"):
        store.get_model(session, "lamp", 7)


def test_built_models_are_cached(session):
    store.save_model(session, lamp())
    assert store.get_model(session, "lamp", 1) is store.get_model(session, "lamp", 1)


def test_list_products_follows_the_latest_version(session):
    store.save_model(session, lamp(version=2, name="Desk Lamp II"))
    store.save_model(session, lamp())  # an older version loaded later keeps the newer name
    store.save_model(session, lamp(product="floor-lamp"))
    products = store.list_products(session)
    assert [(p.product, p.versions, p.latest_version) for p in products] == [
        ("floor-lamp", (1,), 1), ("lamp", (1, 2), 2)]
    assert products[1].name == "Desk Lamp II"


def test_model_versions_are_immutable(session):
    row = store.save_model(session, lamp())
    row.digest = "0" * 64
    with pytest.raises(ImmutableRecord):
        session.flush()


def test_load_demo_catalog_from_a_directory(session, tmp_path):
    write_lamp(tmp_path, "a.yaml")
    write_lamp(tmp_path, "b.yaml", product="floor-lamp")
    assert [r.product for r in store.load_demo_catalog(session, tmp_path)] == ["lamp", "floor-lamp"]
    assert len(store.load_demo_catalog(session, tmp_path)) == 2  # idempotent
    with pytest.raises(NotFound):
        store.load_demo_catalog(session, tmp_path / "empty")


def test_the_shipped_demo_catalog_loads(session):
    files = sorted(DEFAULT_DEMO_DIR.glob("*.yaml"))
    assert files, "catalog/demo has no models"
    rows = store.load_demo_catalog(session)
    assert {(r.product, r.version) for r in rows} == {
        (m.product, m.version) for m in map(load_model_file, files)}
    for row in rows:
        assert store.get_model(session, row.product).digest == row.digest


# ---- saved configurations ---------------------------------------------------------------

@pytest.fixture
def model(session):
    model = lamp()
    store.save_model(session, model)
    return model


def test_a_complete_configuration_records_its_assignment_and_version(session, model):
    saved = save_configuration(session, model, {"base": "large", "bulbs": "3", "shade": None})
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", saved.id)
    assert (saved.product, saved.model_version, saved.complete) == ("lamp", 1, True)
    assert saved.selections == {"base": "large", "bulbs": 3, "shade": "none"}  # coerced
    assert saved.assignment == LARGE
    assert get_configuration(session, saved.id).assignment == LARGE


def test_an_incomplete_configuration_is_saved_without_assignment(session, model):
    saved = save_configuration(session, model, {"base": "small"})
    assert saved.complete is False and saved.assignment is None


def test_invalid_selections_are_not_saved(session, model):
    with pytest.raises(InvalidConfiguration) as caught:
        save_configuration(session, model, {"base": "large", "dimmer": False})
    assert caught.value.conflicts[0].rules[0].id == "large_needs_dimmer"
    with pytest.raises(SelectionError) as caught:
        save_configuration(session, model, {"colour": "red"})
    assert caught.value.field == "selections.colour"
    assert session.exec(select(SavedConfiguration)).all() == []


def test_saved_configurations_are_immutable_and_ids_unique(session, model):
    ids = {save_configuration(session, model, {}).id for _ in range(20)}
    assert len(ids) == 20
    saved = get_configuration(session, ids.pop())
    saved.selections = {"base": "large"}
    with pytest.raises(ImmutableRecord):
        session.flush()


def test_unknown_configuration(session):
    with pytest.raises(NotFound, match="unknown configuration 'nope'"):
        get_configuration(session, "nope")
