"""Error messages of the model format: each names the file, the path and the reason."""
from __future__ import annotations

import textwrap

import pytest

from catalog import expr as ex
from catalog.expr_parser import AttrInfo, ExprError, parse_condition
from core.validation import DocumentValidationError
from catalog.loader import load_model_dict, load_model_file

BASE = {
    "product": "demo", "name": "Demo", "version": 1,
    "attributes": [
        {"id": "size", "type": "enum", "values": ["s", "m", {"code": "l", "properties": {"bays": 4}}]},
        {"id": "count", "type": "int", "min": 0, "max": 8},
        {"id": "gpu", "type": "enum", "optional": True, "values": [{"code": "g1", "properties": {"watts": 300}}]},
        {"id": "tpm", "type": "bool", "default": True},
    ],
}


def errors_of(data, **kwargs):
    with pytest.raises(DocumentValidationError) as info:
        load_model_dict(data, file="demo.yaml", **kwargs)
    return {(e.path, e.reason) for e in info.value.errors}, info.value


def with_rules(*rules):
    return {**BASE, "rules": list(rules)}


def test_a_valid_model_loads_with_typed_domains():
    model = load_model_dict(BASE)
    assert model.attribute("gpu").domain == ("none", "g1")
    assert model.attribute("count").domain == tuple(range(9))
    assert model.attribute("tpm").default is True
    assert model.attribute("gpu").property("none", "watts") == 0
    assert len(model.digest) == 64


def test_messages_per_language_and_pictures():
    data = with_rules({"id": "r", "message": {"en": "Needs a TPM.", "sv": "Kräver TPM."}, "constraint": "tpm"},
                      {"id": "q", "message": "Plain.", "constraint": "count < 8"})
    data["image"] = "https://example.com/demo.png"
    data["attributes"] = [{**data["attributes"][0], "values": [{"code": "s", "image": "/static/s.png"}, "m"]},
                          *data["attributes"][1:]]
    model = load_model_dict(data)
    assert model.image == "https://example.com/demo.png"
    assert [v.image for v in model.attribute("size").values] == ["/static/s.png", ""]
    rule, plain = model.rules
    assert (rule.message, rule.message.in_language("sv"), rule.message.in_language("fr")) == \
        ("Needs a TPM.", "Kräver TPM.", "Needs a TPM.")
    assert plain.message.in_language("de") == "Plain." and plain.message.translations == {}
    assert (model.in_language("sv").rule("r").message, model.in_language("de").rule("r").message) == \
        ("Kräver TPM.", "Needs a TPM.")
    found, _ = errors_of({**data, "image": "javascript:alert(1)"})
    assert any(p == "image" for p, _ in found)


def test_labels_per_language_fall_back_to_english():
    data = {**BASE, "name": {"en": "Demo server", "fr": "Serveur de démonstration"},
            "description": {"en": "For tests.", "de": "Für Tests."},
            "groups": [{"id": "main", "label": {"en": "Main", "nl": "Hoofd"}}],
            "attributes": [{"id": "size", "type": "enum", "group": "main", "label": {"en": "Size", "fr": "Taille"},
                            "description": {"en": "Form factor.", "sv": "Formfaktor."},
                            "values": [{"code": "s", "label": {"en": "Small", "fr": "Petit"},
                                        "description": {"en": "Fits 1U.", "fr": "Tient en 1U."}},
                                       {"code": "m", "label": "Medium"}]},
                           *BASE["attributes"][1:]]}
    model = load_model_dict(data)
    size = model.attribute("size")
    # as loaded, every text is its English one (staff pages, the CLI and the BOM read it so)
    assert (model.name, model.description, model.groups[0].label, size.label, size.values[0].label) == \
        ("Demo server", "For tests.", "Main", "Size", "Small")
    french = model.in_language("fr")
    size_fr = french.attribute("size")
    assert (french.name, french.description, french.groups[0].label) == ("Serveur de démonstration", "For tests.", "Main")
    assert (size_fr.label, size_fr.description, size_fr.label_of("s"), size_fr.values[0].description,
            size_fr.label_of("m")) == ("Taille", "Form factor.", "Petit", "Tient en 1U.", "Medium")
    # the words the model does not write come from the catalogs, in the same language
    assert (french.attribute("gpu").label_of("none"), french.attribute("tpm").label_of(True),
            model.attribute("tpm").label_of(False), french.attribute("count").label_of(3)) == ("Aucun", "Oui", "No", "3")
    assert (model.in_language("nl").groups[0].label, model.in_language("sv").attribute("size").description) == \
        ("Hoofd", "Formfaktor.")
    # the same model in every language: one digest, each language made once, English is the model itself
    assert french.digest == model.digest and model.in_language("fr") is french and model.in_language("en") is model
    assert french.in_language("en").attribute("size").label == "Size"


@pytest.mark.parametrize("where, text, path, reason", [
    ("name", {"fr": "Serveur"}, "name.en", "is required"),
    ("name", {"en": "Server", "it": "Server"}, "name.it", "unknown field"),
    ("name", {"en": "Server", "fr": ""}, "name.fr", "non-empty text"),
    ("group", {"en": "Main", "de": 7}, "groups[0].label.de", "non-empty text"),
    ("attribute", {"sv": "Storlek"}, "attributes[0].label.en", "is required"),
    ("attribute description", ["Size"], "attributes[0].description", "non-empty text"),
    ("value", {"en": "Small", "fr": None}, "attributes[0].values[0].label.fr", "is required"),
    ("rule", {"fr": "Il faut un TPM."}, "rules[0].message.en", "is required"),
])
def test_a_bad_translation_is_named_by_its_field(where, text, path, reason):
    data = {**with_rules({"id": "r", "message": "Needs a TPM.", "constraint": "tpm"}),
            "groups": [{"id": "main"}]}
    size = {**BASE["attributes"][0], "values": [{"code": "s"}, "m"]}
    if where == "name":
        data["name"] = text
    elif where == "group":
        data["groups"] = [{"id": "main", "label": text}]
    elif where == "attribute":
        size["label"] = text
    elif where == "attribute description":
        size["description"] = text
    elif where == "value":
        size["values"] = [{"code": "s", "label": text}, "m"]
    else:
        data["rules"] = [{"id": "r", "message": text, "constraint": "tpm"}]
    data["attributes"] = [size, *BASE["attributes"][1:]]
    found, _ = errors_of(data)
    assert any(p == path and reason in r for p, r in found), found


def test_every_error_is_reported_with_its_path():
    data = {"product": "Bad Code", "version": "one", "extra": 1,
            "attributes": [{"id": "x", "type": "enum", "values": ["a", "a"], "default": "zz"},
                           {"id": "y", "type": "int", "min": 3, "max": 1},
                           {"id": "x", "type": "colour"}]}
    found, error = errors_of(data)
    paths = {p for p, _ in found}
    assert {"product", "name", "version", "extra", "attributes[0].values[1].code", "attributes[0].default",
            "attributes[1].max", "attributes[2].id", "attributes[2].type"} <= paths
    assert all(str(e).startswith("demo.yaml: ") for e in error.errors)


@pytest.mark.parametrize("rule, path, reason", [
    ({"id": "r", "message": "m", "constraint": "size = xl"}, "rules[0].constraint", "'xl' is not a value of size"),
    ({"id": "r", "message": "m", "constraint": "colour = red"}, "rules[0].constraint", "unknown attribute"),
    ({"id": "r", "message": "m", "constraint": "count <="}, "rules[0].constraint", "unexpected"),
    ({"id": "r", "message": "m", "constraint": "size.bays > 1"}, "rules[0].constraint", "not every value of size"),
    ({"id": "r", "message": "m", "constraint": "size"}, "rules[0].constraint", "compare it to a value"),
    ({"id": "r", "message": "m", "constraint": "count + 1"}, "rules[0].constraint", "found a number"),
    ({"id": "r", "message": "m", "requires": {"if": "tpm"}}, "rules[0].requires", "both 'if' and 'then'"),
    ({"id": "r", "message": "m", "excludes": ["tpm"]}, "rules[0].excludes", "at least two"),
    ({"id": "r", "constraint": "tpm"}, "rules[0].message", "is required"),
    ({"id": "r", "message": "m"}, "rules[0]", "exactly one of"),
    ({"id": "r", "message": {"fr": "m"}, "constraint": "tpm"}, "rules[0].message.en", "is required"),
    ({"id": "r", "message": {"en": "m", "xx": "m"}, "constraint": "tpm"}, "rules[0].message.xx", "unknown field"),
    ({"id": "r", "message": {"en": "m", "de": 3}, "constraint": "tpm"}, "rules[0].message.de", "non-empty text"),
    ({"id": "r", "message": "m", "table": {"attributes": ["size", "count"], "allowed": [["s", 1], ["m", 99]]}},
     "rules[0].table.allowed[1][1]", "99 is not a value of count"),
    ({"id": "r", "message": "m", "table": {"attributes": ["size", "nope"], "allowed": []}},
     "rules[0].table.attributes[1]", "unknown attribute 'nope'"),
    ({"id": "r", "message": "m", "table": {"attributes": ["size", "count"], "allowed": [["s"]]}},
     "rules[0].table.allowed[0]", "expected a row of 2 values"),
])
def test_rule_errors(rule, path, reason):
    found, _ = errors_of(with_rules(rule))
    assert any(p == path and reason in r for p, r in found), found


def test_duplicate_rule_ids_and_inconsistent_parts():
    data = {**with_rules({"id": "r", "message": "m", "constraint": "tpm"},
                         {"id": "r", "message": "m", "constraint": "tpm"}),
            "components": [{"part": "A", "children": [{"part": "A", "uom": "M"}, {"part": "B"}]}, {"part": "B"}]}
    found, _ = errors_of(data)
    assert ("rules[1].id", "duplicate rule 'r'") in found
    assert ("components[0].children[0].part", "part 'A' appears elsewhere with another uom or properties") in found
    assert not any(p.startswith("components[1]") for p, _ in found)     # B is the same part twice


def test_yaml_syntax_errors_give_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("product: x\nattributes: [\n")
    with pytest.raises(DocumentValidationError) as info:
        load_model_file(path)
    (error,) = info.value.errors
    assert error.file == str(path) and error.path.startswith("line ") and "invalid YAML" in error.reason


def test_table_rows_load_from_csv_next_to_the_model(tmp_path):
    (tmp_path / "rows.csv").write_text("s,1\nm,2\nl,*\n")
    (tmp_path / "model.yaml").write_text(textwrap.dedent("""
        product: demo
        name: Demo
        version: 1
        attributes:
          - {id: size, type: enum, values: [s, m, l]}
          - {id: count, type: int, min: 0, max: 3}
        rules:
          - {id: t, message: m, table: {attributes: [size, count], allowed_file: rows.csv}}
    """))
    model = load_model_file(tmp_path / "model.yaml")
    assert model.rules[0].table.rows == (("s", 1), ("m", 2), ("l", "*"))
    # the stored source inlines the rows so a database copy needs no files
    assert model.source["rules"][0]["table"]["allowed"] == [["s", 1], ["m", 2], ["l", "*"]]
    again = load_model_dict(model.source)
    assert again.digest == model.digest


def test_expressions_never_reach_eval():
    attrs = {"count": AttrInfo("int", tuple(range(9)))}
    for hostile in ["__import__('os').system('x')", "count; import os", "count.__class__ > 1"]:
        with pytest.raises(ExprError):
            parse_condition(hostile, attrs)


def test_operator_precedence():
    attrs = {"a": AttrInfo("bool", (False, True)), "b": AttrInfo("bool", (False, True)),
             "c": AttrInfo("bool", (False, True)), "n": AttrInfo("int", tuple(range(5)))}
    node = parse_condition("a or b and not c implies n + 2 * 3 >= 7", attrs)
    fn = ex.compile_fn(node, None)
    assert fn({"a": False, "b": False, "c": False, "n": 0}) is True      # premise false
    assert fn({"a": True, "b": False, "c": True, "n": 0}) is False       # 0 + 6 >= 7 fails
    assert fn({"a": True, "b": False, "c": True, "n": 1}) is True
