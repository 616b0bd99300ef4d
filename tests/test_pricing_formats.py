"""Price book and rule set files: every problem is reported with its path and reason, all in
one round; the shipped demo price books and rule set load."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.pricebook import load_price_book_dict, load_price_book_file
from core.settings import DEFAULT_DEMO_DIR
from core.validation import DocumentValidationError
from rules.actions import Floor, FreeItem, Volume
from rules.loader import load_rule_set_dict, load_rule_set_file

PRICE_BOOKS = DEFAULT_DEMO_DIR / "pricebooks"
RULE_SETS = DEFAULT_DEMO_DIR / "rulesets"


def price_book(**changes) -> dict:
    return {"pricebook": "test", "version": 1, "currency": "USD", "products": {"A": "10.00"}, **changes}


def rule_set(*rules: dict, **changes) -> dict:
    return {"ruleset": "test", "version": 1, "rules": list(rules), **changes}


def errors_of(load, data) -> list[tuple[str, str]]:
    with pytest.raises(DocumentValidationError) as caught:
        load(data)
    return [(e.path, e.reason) for e in caught.value.errors]


# price books -----------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, path, reason", [
    ({"discounts": 1}, "discounts", "unknown field; expected one of pricebook, name, version"),
    ({"currency": "XYZ"}, "currency", "'XYZ' is not an ISO 4217 currency code"),
    ({"currency": "XAU"}, "currency", "XAU has no minor units; amounts cannot be priced in it"),
    ({"currency": None}, "currency", "is required"),
    ({"pricebook": "List USD"}, "pricebook", "'List USD' must match"),
    ({"version": 0}, "version", "must be an integer from 1 to 2147483647"),
    ({"valid_from": "2026-02-01", "valid_until": "2026-01-31"}, "valid_until", "is before valid_from"),
    ({"valid_from": "soon"}, "valid_from", "expected a date (YYYY-MM-DD)"),
    ({"products": None}, "products", "is required"),
    ({"products": {"A": "9.999"}}, "products.A", "9.999 has more decimals than USD allows (2)"),
    ({"products": {"A": {"cost": 1}}}, "products.A.price", "is required"),
    ({"products": {"A": {"price": 1, "list": 2}}}, "products.A.list",
     "unknown field; expected one of price, cost, name, charge, term_months"),
    ({"products": {"A": {"price": 1, "charge": "weekly"}}}, "products.A.charge",
     "expected one of one_time, monthly, quarterly, semiannual, annual"),
    ({"products": {"A": {"price": 1, "term_months": 12}}}, "products.A.term_months",
     "only recurring charges have a term"),
    ({"products": {"A b": 1}}, "products.A b", "product codes must match"),
    ({"options": {"widget": {"colour": {"red": 5}}}}, "options.widget", "has option prices but no product price"),
    ({"options": {"A": {"colour": {"red": 5}}}}, "options.A", "product codes must match"),
    ({"products": {"lamp": 1}, "options": {"lamp": {"colour": {"red": "1.001"}}}}, "options.lamp.colour.red",
     "1.001 has more decimals than USD allows (2)"),
    ({"products": {"lamp": 1}, "options": {"lamp": {"bulbs": {"per_unit": 2, "red": 1}}}}, "options.lamp.bulbs",
     "per_unit prices an integer attribute; it takes no other values"),
    ({"components": {"P-1": {"price": "0.5", "cost": "0.125"}}}, "components.P-1.cost",
     "0.125 has more decimals than USD allows (2)"),
    ({"cost_from_bom": {"property": "cost", "rate": 0}}, "cost_from_bom.rate", "must be more than 0"),
])
def test_price_book_errors_name_the_path_and_the_reason(changes, path, reason):
    [(got_path, got_reason)] = errors_of(load_price_book_dict, price_book(**changes))
    assert got_path == path and got_reason.startswith(reason)


@pytest.mark.parametrize("bad", ["-1", "ten", True])
def test_a_bad_amount_in_a_price_book_is_reported(bad):
    [(path, reason)] = errors_of(load_price_book_dict, price_book(products={"A": bad}))
    assert path == "products.A" and reason in ("must be at least 0", "expected a number")


def test_every_price_book_problem_is_reported_in_one_round():
    paths = [path for path, _ in errors_of(load_price_book_dict, price_book(
        version="one", extra=True, valid_until="2020-01-01", valid_from="2021-01-01",
        products={"A": "1.001", "B": {"price": 1, "charge": "daily"}}))]
    assert paths == ["extra", "version", "valid_until", "products.A", "products.B.charge"]


def test_price_book_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pricebook: bad\nversion: 1\ncurrency: USD\nproducts: {A: 1.234}\n")
    with pytest.raises(DocumentValidationError) as caught:
        load_price_book_file(path)
    assert caught.value.kind == "price_book"
    assert str(caught.value) == f"{path}: products.A: 1.234 has more decimals than USD allows (2)"
    path.write_text("pricebook: [\n")
    with pytest.raises(DocumentValidationError, match=r"bad.yaml: line \d+, column \d+: invalid YAML"):
        load_price_book_file(path)
    with pytest.raises(DocumentValidationError, match="cannot read file"):
        load_price_book_file(tmp_path / "missing.yaml")


# rule sets ---------------------------------------------------------------------------------------

PROMO = {"code": "SAVE10", "products": ["A"]}
LEVELS = [{"id": "manager", "stage": 1}]


@pytest.mark.parametrize("data, path, reason", [
    (rule_set(owner="me"), "owner", "unknown field; expected one of ruleset, version"),
    (rule_set({"id": "r", "discount_percent": 5, "colour": "red"}), "rules[0].colour", "unknown field"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"weekday": "monday"}}), "rules[0].when.weekday",
     "unknown field"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"currency": ["XYZ"]}}), "rules[0].when.currency[0]",
     "'XYZ' is not an ISO 4217 currency code"),
    (rule_set({"id": "r", "discount_amount": {"XYZ": 5}}), "rules[0].discount_amount.XYZ",
     "'XYZ' is not an ISO 4217 currency code"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"promo_code": "NOPE"}}), "rules[0].when.promo_code",
     "'NOPE' is not a promotion of this rule set"),
    (rule_set({"id": "r", "discount_percent": 5}, {"id": "r", "discount_percent": 6}), "rules[1].id",
     "duplicate rule id 'r'"),
    (rule_set(promotions=[{"code": "X1"}, {"code": "X1"}]), "promotions[1].code", "duplicate promotion 'X1'"),
    (rule_set(promotions=[{"code": "lower"}]), "promotions[0].code", "'lower' must match"),
    (rule_set({"id": "r", "volume": {"mode": "all_units", "tiers": [
        {"from": 10, "discount_percent": 5}, {"from": 5, "discount_percent": 10}]}}),
     "rules[0].volume.tiers", "tiers must start at increasing quantities"),
    (rule_set({"id": "r", "volume": {"mode": "all_units", "tiers": [
        {"from": 5, "discount_percent": 5}, {"from": 5, "discount_percent": 10}]}}),
     "rules[0].volume.tiers", "tiers must start at increasing quantities"),
    (rule_set({"id": "r", "volume": {"mode": "graduated", "tiers": [{"from": 2, "discount_percent": 5}]}}),
     "rules[0].volume.tiers[0]", "graduated tiers start at quantity 1"),
    (rule_set({"id": "r", "volume": {"mode": "tiered", "tiers": []}}), "rules[0].volume.mode",
     "expected one of all_units, graduated, block"),
    (rule_set({"id": "r", "target": "quote", "discount_percent": 5, "when": {"products": ["A"]}}),
     "rules[0].when.products", "quote rules cannot test line facts"),
    (rule_set({"id": "r", "target": "quote", "discount_percent": 5, "when": {"quantity": {"min": 3}}}),
     "rules[0].when.quantity", "quote rules cannot test line facts"),
    (rule_set({"id": "r", "target": "quote", "set_price": {"USD": 5}}), "rules[0].set_price",
     "quote rules take discount_percent or discount_amount"),
    (rule_set({"id": "r"}), "rules[0]", "give exactly one action"),
    (rule_set({"id": "r", "discount_percent": 5, "surcharge_percent": 5}), "rules[0]", "give exactly one action"),
    (rule_set({"id": "r", "discount_percent": 120}), "rules[0].discount_percent", "must be at most 100"),
    (rule_set({"id": "r", "discount_percent": 5, "stacking": "max"}), "rules[0].stacking",
     "expected one of exclusive, best_of, additive, compounding"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"valid": {"from": "2026-02-01", "until": "2026-01-01"}}}),
     "rules[0].when.valid.until", "is before from"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"charge": ["weekly"]}}), "rules[0].when.charge",
     "'weekly' is not one of one_time, monthly, quarterly, semiannual, annual"),
    (rule_set({"id": "r", "floor": {"cost_plus_percent": 5, "price": {"USD": 1}}}), "rules[0].floor",
     "give cost_plus_percent or price"),
    (rule_set({"id": "r", "discount_amount": {"USD": 0}}), "rules[0].discount_amount.USD", "must be more than 0"),
    (rule_set({"id": "r", "discount_percent": 5, "when": {"promo_code": "SAVE10", "products": ["B"]}},
              promotions=[PROMO]), "rules[0].when.products", "none of them is eligible for promotion SAVE10"),
    (rule_set(max_line_discount_percent=150), "max_line_discount_percent", "must be at most 100"),
    (rule_set(approvals={"levels": LEVELS, "rules": [
        {"id": "a", "when": {"manual_discount": True}, "require": ["ceo"]}]}),
     "approvals.rules[0].require[0]", "'ceo' is not a level in approvals.levels"),
    (rule_set(approvals={"levels": LEVELS, "rules": [{"id": "a", "when": {"manual_discount": True}}]}),
     "approvals.rules[0].require", "name at least one approval level"),
    (rule_set(approvals={"levels": LEVELS, "rules": [{"id": "a", "when": {}, "require": ["manager"]}]}),
     "approvals.rules[0].when", "give at least one condition"),
    (rule_set(approvals={"levels": LEVELS, "rules": [
        {"id": "a", "when": {"payment_terms": "net90"}, "require": ["manager"]}]}),
     "approvals.rules[0].when.payment_terms", "the only test is non_standard"),
    (rule_set(approvals={"levels": LEVELS, "rules": [
        {"id": "a", "when": {"margin": {"below": 5}}, "require": ["manager"]}]}),
     "approvals.rules[0].when.margin", "unknown field"),
    (rule_set(approvals={"levels": [*LEVELS, {"id": "manager", "stage": 2}], "rules": [
        {"id": "a", "when": {"manual_discount": True}, "require": ["manager"]}]}),
     "approvals.levels[1].id", "duplicate level 'manager'"),
])
def test_rule_set_errors_name_the_path_and_the_reason(data, path, reason):
    [(got_path, got_reason)] = errors_of(load_rule_set_dict, data)
    assert got_path == path and got_reason.startswith(reason)


def test_every_rule_set_problem_is_reported_in_one_round():
    problems = errors_of(load_rule_set_dict, rule_set(
        {"id": "a", "discount_percent": 5}, {"id": "a", "discount_percent": -1},
        {"id": "b", "target": "quote", "discount_percent": 5, "when": {"products": ["A"], "promo_code": "NONE"}},
        version=0))
    assert [path for path, _ in problems] == [
        "version", "rules[1].id", "rules[1].discount_percent", "rules[2].when.products",
        "rules[2].when.promo_code"]


def test_rule_set_file_errors_name_the_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("ruleset: r\nversion: 1\nrules:\n  - {id: x, discount_percent: 5, when: {promo_code: NOPE}}\n")
    with pytest.raises(DocumentValidationError) as caught:
        load_rule_set_file(path)
    assert caught.value.kind == "rule_set"
    assert str(caught.value) == f"{path}: rules[0].when.promo_code: 'NOPE' is not a promotion of this rule set"


def test_a_promo_rule_is_limited_to_the_promotions_products():
    rs = load_rule_set_dict(rule_set({"id": "r", "discount_percent": 5, "when": {"promo_code": "SAVE10"}},
                                     {"id": "s", "discount_percent": 5,
                                      "when": {"promo_code": "SAVE10", "products": ["A", "B"]}},
                                     promotions=[PROMO]))
    assert [r.products for r in rs.rules] == [frozenset({"A"}), frozenset({"A"})]


def test_defaults_of_a_rule():
    [rule] = load_rule_set_dict(rule_set({"id": "r", "discount_percent": "12.5"})).rules
    assert (rule.priority, rule.stacking, rule.target, rule.products, rule.description) == (
        100, "additive", "line", None, "r")
    assert rule.action.percent == Decimal("12.5")


# the demo files --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, version, code", [("list-usd", 2, "USD"), ("list-eur", 2, "EUR"),
                                                 ("partner-eur", 1, "EUR")])
def test_the_demo_price_books_load(name, version, code):
    book = load_price_book_file(PRICE_BOOKS / f"{name}.yaml")
    assert (book.name, book.version, book.currency.code) == (name, version, code)
    assert {"rack-server", "solar-installation", "SUP-PRO-M"} <= set(book.products)
    assert book.cost_from_bom == "cost"
    assert all(book.currency.is_exact(p.price.amount) for p in book.products.values())


def test_the_demo_price_book_files_are_all_tested():
    assert sorted(p.stem for p in PRICE_BOOKS.glob("*.yaml")) == ["list-eur", "list-usd", "partner-eur"]
    assert sorted(p.stem for p in RULE_SETS.glob("*.yaml")) == ["standard"]


def test_the_demo_rule_set_loads():
    rs = load_rule_set_file(RULE_SETS / "standard.yaml")
    assert (rs.name, rs.version, rs.max_line_discount_percent) == ("standard", 1, 45)
    assert rs.standard_payment_terms == {"net30", "net45"}
    assert set(rs.promotions) == {"SPRING27", "EPYC300"}
    assert [lv.stage for lv in rs.levels.values()] == [1, 2, 2, 3]
    rules = {r.id: r for r in rs.rules}
    assert isinstance(rules["server-volume"].action, Volume)
    assert isinstance(rules["hardware-floor"].action, Floor)
    assert isinstance(rules["rails-per-ten"].action, FreeItem)
    assert rules["large-deal"].target == "quote"
    assert rules["spring-solar"].products == {"solar-installation"}      # limited by its promotion
    assert [r.id for r in rs.quote_rules] == ["large-deal"]
    assert [r.id for r in rs.line_rules("rack-server")][:2] == ["server-volume", "tier-gold"]


def test_a_stored_book_still_prices_yes_no_options(engine):
    """A book is stored as JSON, whose keys are text: `bezel: {true: 70.00}` comes back as
    "true" and must still price the yes/no value True."""
    from catalog.store import get_price_book, load_demo_catalog, load_demo_price_books
    from core.db import session_scope
    with session_scope(engine) as session:
        load_demo_catalog(session)
        load_demo_price_books(session)
        book = get_price_book(session, "list-usd")
        with_bezel = book.list_price("rack-server", {"bezel": True})
        without = book.list_price("rack-server", {"bezel": False})
        assert with_bezel.unit_price - without.unit_price == Decimal("70.00")
