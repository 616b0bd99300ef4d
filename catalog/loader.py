"""Load product model files (YAML, or the same structure as a dict) into a `ProductModel`.

Validation collects every error it can find, each naming the file, the path inside it and
the reason, so an author fixes a file in one round rather than one error at a time.
"""
from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from catalog import expr as ex
from catalog.expr_parser import AttrInfo, ExprError, parse_condition, parse_number
from core.validation import (MAX_INTEGER, Reader, digest, parse_yaml, read_file)
from catalog.model import (ANY, BOOL, ENUM, INT, Attribute, Component, EnumValue, Group,
                           ProductModel, Rule, Table, rollup)

PRODUCT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ID_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
CODE_RE = re.compile(r"^[A-Za-z0-9_]+$")
RESERVED_CODES = {"none", "true", "false"}
MAX_INT_DOMAIN = 1000
RULE_KINDS = ("requires", "excludes", "constraint", "table")
IMAGE_RE = re.compile(r"^(https://|/)[^\s\"'<>]+$")    # an absolute https URL or a path on this site


def load_model_file(path: str | Path) -> ProductModel:
    path = Path(path)
    return load_model_text(read_file(path, "model"), file=str(path), base_dir=path.parent)


def load_model_text(text: str, file: str = "<text>", base_dir: Path | None = None) -> ProductModel:
    return load_model_dict(parse_yaml(text, file, "model"), file=file, base_dir=base_dir)


def load_model_dict(data: Any, file: str = "<model>", base_dir: Path | None = None) -> ProductModel:
    return _Builder(file, base_dir).build(data)


class _Builder(Reader):
    kind = "model"

    def __init__(self, file: str, base_dir: Path | None):
        super().__init__(file)
        self.base_dir = base_dir

    def decimals(self, value: Any, path: str) -> dict[str, Decimal]:  # property values
        return super().decimals(value, path, ID_RE)

    # the model -----------------------------------------------------------------------------
    def build(self, data: Any) -> ProductModel:
        top = self.mapping(data, "", ("product", "name", "version", "description", "cost_currency",
                                      "image", "groups", "attributes", "rules", "components"))
        if top is None:
            self.check()
        product = self.text(top, "product", "", required=True, pattern=PRODUCT_RE)
        name = self.localized(top, "name", "", required=True)
        version = self.integer(top, "version", "", required=True)
        if version is not None and not 1 <= version <= MAX_INTEGER:
            self.error("version", f"must be an integer from 1 to {MAX_INTEGER}")
        description = self.localized(top, "description", "")
        currency = self.text(top, "cost_currency", "", default="USD", pattern=re.compile(r"^[A-Z]{3}$"))
        image = self.text(top, "image", "", pattern=IMAGE_RE)
        groups = self.groups(top)
        source = dict(top)
        attributes = self.attributes(top, {g.id for g in groups})
        infos = {a.id: AttrInfo(a.type, a.domain, _common_properties(a)) for a in attributes}
        raw_components = self.listing(top, "components", "")
        component_props = frozenset(_component_property_names(raw_components))
        components = self.components(raw_components, "components", infos, component_props, {})
        rules, source["rules"] = self.rules(top, attributes, infos, component_props)
        if self.errors:
            self.check()
        rules = _expand_totals(rules, components)
        return ProductModel(product=product, name=name, version=version, description=description,
                            cost_currency=currency, groups=tuple(groups), attributes=tuple(attributes),
                            rules=tuple(rules), components=tuple(components), digest=digest(source),
                            source=source, image=image)

    def groups(self, top: dict) -> list[Group]:
        out, seen = [], set()
        for i, raw in enumerate(self.listing(top, "groups", "")):
            path = f"groups[{i}]"
            m = self.mapping(raw, path, ("id", "label"))
            if m is None:
                continue
            gid = self.text(m, "id", path, required=True, pattern=ID_RE)
            if gid in seen:
                self.error(f"{path}.id", f"duplicate group {gid!r}")
            seen.add(gid)
            out.append(Group(gid, self.localized(m, "label", path, default=gid.replace("_", " ").title())))
        return out

    def attributes(self, top: dict, group_ids: set[str]) -> list[Attribute]:
        out, seen = [], set()
        raw_list = self.listing(top, "attributes", "", required=True)
        if "attributes" in top and not raw_list and isinstance(top["attributes"], list):
            self.error("attributes", "a model needs at least one attribute")
        for i, raw in enumerate(raw_list):
            path = f"attributes[{i}]"
            m = self.mapping(raw, path, ("id", "type", "label", "group", "description", "optional",
                                         "default", "values", "min", "max", "step"))
            if m is None:
                continue
            aid = self.text(m, "id", path, required=True, pattern=ID_RE)
            if aid in seen:
                self.error(f"{path}.id", f"duplicate attribute {aid!r}")
            seen.add(aid)
            kind = m.get("type")
            if kind not in (ENUM, INT, BOOL):
                self.error(f"{path}.type", "expected enum, int or bool")
                continue
            group = m.get("group")
            if group is not None and group not in group_ids:
                self.error(f"{path}.group", f"unknown group {group!r}")
            optional = m.get("optional", False)
            if not isinstance(optional, bool):
                self.error(f"{path}.optional", "expected true or false")
                optional = False
            fields = dict(id=aid, type=kind, label=self.localized(m, "label", path, default=aid.replace("_", " ").capitalize()),
                          group=group, description=self.localized(m, "description", path), optional=optional)
            if kind == ENUM:
                fields["values"] = self.enum_values(m, path)
                if not fields["values"]:
                    continue
            elif "values" in m:
                self.error(f"{path}.values", "only enum attributes list values")
            if kind == INT:
                lo, hi = self.integer(m, "min", path, True), self.integer(m, "max", path, True)
                step = self.integer(m, "step", path)
                step = 1 if step is None else step
                if lo is None or hi is None:
                    continue
                if step < 1:
                    self.error(f"{path}.step", "must be at least 1")
                    continue
                if hi < lo:
                    self.error(f"{path}.max", "must not be less than min")
                    continue
                if (hi - lo) // step + 1 > MAX_INT_DOMAIN:
                    self.error(path, f"an int attribute may have at most {MAX_INT_DOMAIN} values")
                    continue
                fields.update(min=lo, max=hi, step=step)
            elif "min" in m or "max" in m or "step" in m:
                self.error(path, "only int attributes have min, max and step")
            attribute = Attribute(**fields)
            if "default" in m:
                try:
                    attribute = Attribute(**fields, default=attribute.coerce(m["default"]))
                except ValueError as exc:
                    self.error(f"{path}.default", str(exc))
            out.append(attribute)
        return out

    def enum_values(self, m: dict, path: str) -> tuple[EnumValue, ...]:
        raw_values = self.listing(m, "values", path, required=True)
        if "values" in m and not raw_values:
            self.error(f"{path}.values", "an enum needs at least one value")
        out, seen = [], set()
        for j, raw in enumerate(raw_values):
            vpath = f"{path}.values[{j}]"
            if isinstance(raw, str):
                raw = {"code": raw}
            v = self.mapping(raw, vpath, ("code", "label", "description", "properties", "image"))
            if v is None:
                continue
            code = v.get("code")
            if isinstance(code, int) and not isinstance(code, bool):
                code = str(code)
            if not isinstance(code, str) or not CODE_RE.match(code):
                self.error(f"{vpath}.code", f"expected a code matching {CODE_RE.pattern}")
                continue
            if code in RESERVED_CODES:
                self.error(f"{vpath}.code", f"{code!r} is reserved")
                continue
            if code in seen:
                self.error(f"{vpath}.code", f"duplicate value {code!r}")
            seen.add(code)
            out.append(EnumValue(code, self.localized(v, "label", vpath, default=code),
                                 self.localized(v, "description", vpath),
                                 self.decimals(v.get("properties"), f"{vpath}.properties"),
                                 self.text(v, "image", vpath, pattern=IMAGE_RE)))
        return tuple(out)

    def components(self, raw_list: list, path: str, infos: dict, props: frozenset,
                   parts: dict[str, tuple]) -> list[Component]:
        """Components of one level; `parts` holds the first occurrence of each part number,
        since a part used in several assemblies must mean the same thing everywhere."""
        out = []
        for i, raw in enumerate(raw_list):
            cpath = f"{path}[{i}]"
            m = self.mapping(raw, cpath, ("part", "description", "uom", "quantity", "when",
                                          "properties", "children"))
            if m is None:
                continue
            part = m.get("part")
            if isinstance(part, (int, float)) and not isinstance(part, bool):
                part = str(part)
            if not isinstance(part, str) or not part.strip():
                self.error(f"{cpath}.part", "is required")
                continue
            quantity = self.expression(m.get("quantity", 1), f"{cpath}.quantity", infos, props, numeric=True)
            when = None
            if m.get("when") is not None:
                when = self.expression(m["when"], f"{cpath}.when", infos, props)
            uom = self.text(m, "uom", cpath, default="EA")
            properties = self.decimals(m.get("properties"), f"{cpath}.properties")
            if parts.setdefault(part, (uom, properties)) != (uom, properties):
                self.error(f"{cpath}.part", f"part {part!r} appears elsewhere with another uom or properties")
            children = self.components(self.listing(m, "children", cpath), f"{cpath}.children",
                                       infos, props, parts)
            out.append(Component(part=part, description=self.text(m, "description", cpath, default=part),
                                 uom=uom, quantity=quantity, when=when, properties=properties,
                                 children=tuple(children)))
        return out

    def expression(self, raw: Any, path: str, infos: dict, props: frozenset, numeric: bool = False):
        try:
            if numeric:
                if isinstance(raw, float):
                    raw = Decimal(str(raw))
                return parse_number(raw, infos, frozenset())
            return parse_condition(raw, infos, props)
        except ExprError as exc:
            self.error(path, str(exc))
            return None

    def rules(self, top: dict, attributes: list[Attribute], infos: dict, props: frozenset):
        by_id = {a.id: a for a in attributes}
        out, sources, seen = [], [], set()
        for i, raw in enumerate(self.listing(top, "rules", "")):
            path = f"rules[{i}]"
            m = self.mapping(raw, path, ("id", "message", "description") + RULE_KINDS)
            if m is None:
                continue
            sources.append(m)
            rid = self.text(m, "id", path, required=True, pattern=ID_RE)
            if rid in seen:
                self.error(f"{path}.id", f"duplicate rule {rid!r}")
            seen.add(rid)
            message = self.localized(m, "message", path, required=True)
            kinds = [k for k in RULE_KINDS if k in m]
            if len(kinds) != 1:
                self.error(path, f"a rule needs exactly one of {', '.join(RULE_KINDS)}")
                continue
            kind = kinds[0]
            body = m[kind]
            if kind == "table":
                table = self.table(body, f"{path}.table", by_id)
                if table is not None:
                    sources[-1] = {**m, "table": {"attributes": list(table.attributes),
                                                  "allowed" if table.allowed else "forbidden":
                                                      [list(r) for r in table.rows]}}
                    out.append(Rule(rid, message, kind, table=table,
                                    source=f"table over {', '.join(table.attributes)}"))
                continue
            node, text = self.rule_expression(kind, body, f"{path}.{kind}", infos, props)
            if node is not None:
                out.append(Rule(rid, message, kind, expr=node, source=text))
        return out, sources

    def rule_expression(self, kind: str, body: Any, path: str, infos: dict, props: frozenset):
        if kind == "constraint":
            return self.expression(body, path, infos, props), str(body)
        if kind == "requires":
            m = self.mapping(body, path, ("if", "then"))
            if m is None:
                return None, ""
            if "if" not in m or "then" not in m:
                self.error(path, "requires needs both 'if' and 'then'")
                return None, ""
            cond = self.expression(m["if"], f"{path}.if", infos, props)
            then = self.expression(m["then"], f"{path}.then", infos, props)
            if cond is None or then is None:
                return None, ""
            return ex.implies(cond, then), f"if {m['if']} then {m['then']}"
        if not isinstance(body, list) or len(body) < 2:
            self.error(path, "excludes needs a list of at least two conditions")
            return None, ""
        items = [self.expression(x, f"{path}[{j}]", infos, props) for j, x in enumerate(body)]
        if any(x is None for x in items):
            return None, ""
        return ex.Not(ex.And(tuple(items))), "not all of: " + "; ".join(map(str, body))

    def table(self, body: Any, path: str, by_id: dict) -> Table | None:
        m = self.mapping(body, path, ("attributes", "allowed", "forbidden", "allowed_file", "forbidden_file"))
        if m is None:
            return None
        names = self.listing(m, "attributes", path, required=True)
        attrs = []
        for j, name in enumerate(names):
            if name not in by_id:
                self.error(f"{path}.attributes[{j}]", f"unknown attribute {name!r}")
            elif name in attrs:
                self.error(f"{path}.attributes[{j}]", f"{name!r} is listed twice")
            else:
                attrs.append(name)
        if len(names) < 2:
            self.error(f"{path}.attributes", "a table needs at least two attributes")
        sources = [k for k in ("allowed", "forbidden", "allowed_file", "forbidden_file") if k in m]
        if len(sources) != 1:
            self.error(path, "a table needs exactly one of allowed, forbidden, allowed_file, forbidden_file")
            return None
        if len(attrs) != len(names) or len(names) < 2:
            return None
        key = sources[0]
        if key.endswith("_file"):
            rows, row_path = self.csv_rows(m[key], f"{path}.{key}"), f"{path}.{key} row"
        else:
            rows, row_path = m[key], f"{path}.{key}"
            if not isinstance(rows, list):
                self.error(row_path, "expected a list of rows")
                return None
        if rows is None:
            return None
        cells = [_cell_map(by_id[a]) for a in attrs]
        arity = len(attrs)
        out = []
        for r, row in enumerate(rows):
            if not isinstance(row, (list, tuple)) or len(row) != arity:
                self.error(f"{row_path}[{r}]", f"expected a row of {arity} values")
                continue
            try:
                out.append(tuple(cm[cell] for cm, cell in zip(cells, row)))
            except (KeyError, TypeError):
                for c, (cm, cell) in enumerate(zip(cells, row)):
                    if not _hashable(cell) or cell not in cm:
                        self.error(f"{row_path}[{r}][{c}]", f"{cell!r} is not a value of {attrs[c]}")
            if len(self.errors) > 200:
                self.error(row_path, "too many errors; stopped checking rows")
                break
        return Table(tuple(attrs), key.startswith("allowed"), tuple(out))

    def csv_rows(self, name: Any, path: str) -> list | None:
        if not isinstance(name, str):
            self.error(path, "expected a file name")
            return None
        if self.base_dir is None:
            self.error(path, "table files can only be used in model files")
            return None
        target = (self.base_dir / name)
        try:
            with target.open(newline="", encoding="utf-8") as fh:
                return [[c.strip() for c in row] for row in csv.reader(fh) if row]
        except OSError as exc:
            self.error(path, f"cannot read {target}: {exc.strerror}")
            return None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _cell_map(attribute: Attribute) -> dict:
    """Every accepted spelling of every value (and `*`), so a row converts by lookups only."""
    cells: dict = {ANY: ANY}
    for value in attribute.domain:
        cells[value] = value
        cells[str(value)] = value
        if isinstance(value, bool):
            cells[str(value).lower()] = value
    return cells


def _common_properties(attribute: Attribute) -> frozenset:
    if attribute.type != ENUM or not attribute.values:
        return frozenset()
    names = set(attribute.values[0].properties)
    for v in attribute.values[1:]:
        names &= set(v.properties)
    return frozenset(names)


def _component_property_names(raw_list: list) -> set[str]:
    names: set[str] = set()
    for raw in raw_list:
        if isinstance(raw, dict):
            if isinstance(raw.get("properties"), dict):
                names |= {k for k in raw["properties"] if isinstance(k, str)}
            if isinstance(raw.get("children"), list):
                names |= _component_property_names(raw["children"])
    return names


def _expand_totals(rules: list[Rule], components: list[Component]) -> list[Rule]:
    """Replace total(prop) by the explicit sum over the BOM, so engines see plain arithmetic."""
    def sub(node):
        return rollup(components, node.prop) if isinstance(node, ex.Total) else None

    return [Rule(r.id, r.message, r.kind, ex.replace(r.expr, sub), r.table, r.source)
            if r.expr is not None else r for r in rules]
