"""Seeded generator of the synthetic benchmark model.

250 attributes (enum with 2..12 values, some optional; some int; a few bool) and 300
allowed compatibility tables over 2..12 attributes with about 225k allowed rows in all.
Satisfiable by construction: `planted` complete configurations are drawn first and every
table contains the projections of all of them. Some tables are tight (only the planted
rows plus a handful), wide tables are sparse, the rest get random rows: half uniform, half
mutations of planted rows (so there are solutions near the planted ones), and a few
tables carry `*` wildcard cells.

    .venv/bin/python bench/generate.py [--seed N] [--rows N] [--out DIR]     # DIR/model.yaml + DIR/tables/*.csv

Without --out it prints the statistics only.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20240611
ROWS = 225_000         # allowed rows in all tables, by default
ENUM_LIMIT = 4096       # mirror of configurator.encode.ENUM_LIMIT: tables up to this size are enumerated


@dataclass
class Generated:
    model: dict
    planted: list[dict]                 # complete valid configurations {attr: value}
    rows: int                           # allowed rows in all tables
    kinds: dict = field(default_factory=dict)   # table kind -> (tables, rows)
    arity: dict = field(default_factory=dict)   # arity -> tables
    values: int = 0                     # sum of domain sizes

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {t} tables/{r:,} rows" for k, (t, r) in sorted(self.kinds.items()))
        return (f"{len(self.model['attributes'])} attributes ({self.values} values), "
                f"{len(self.model['rules'])} tables, {self.rows:,} allowed rows [{kinds}], "
                f"{len(self.planted)} planted configurations")


def _arities(n_tables: int, rng: random.Random) -> list[int]:
    weights = {2: 40, 3: 40, 4: 35, 5: 30, 6: 30, 7: 25, 8: 25, 9: 20, 10: 20, 11: 17, 12: 18}
    total = sum(weights.values())
    out = []
    for a, w in weights.items():
        out += [a] * round(w * n_tables / total)
    while len(out) < n_tables:
        out.append(rng.randint(2, 12))
    out = out[:n_tables]
    rng.shuffle(out)
    return out


def generate(seed: int = SEED, n_attrs: int = 250, n_tables: int = 300,
             target_rows: int = ROWS, n_planted: int = 32, n_int: int = 25, n_bool: int = 10,
             max_arity: int = 12, core_share: float = 0.6) -> Generated:
    rng = random.Random(seed)
    # attributes ---------------------------------------------------------------------------
    attributes, domains = [], {}
    kinds = ["int"] * n_int + ["bool"] * n_bool + ["enum"] * (n_attrs - n_int - n_bool)
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        aid = f"a{i:03d}"
        if kind == "enum":
            size = rng.randint(2, 12)
            optional = rng.random() < 0.1
            codes = [f"v{j}" for j in range(size - (1 if optional else 0))]
            spec = {"id": aid, "type": "enum",
                    "values": [{"code": c, "label": f"{aid} {c}",
                                "properties": {"cost": rng.randint(0, 500)}} for c in codes]}
            if optional:
                spec["optional"] = True
            domains[aid] = (["none"] if optional else []) + codes
        elif kind == "int":
            size = rng.randint(2, 12)
            lo, step = rng.choice([0, 1, 2]), rng.choice([1, 1, 2, 5])
            spec = {"id": aid, "type": "int", "min": lo, "max": lo + step * (size - 1)}
            if step != 1:
                spec["step"] = step
            domains[aid] = list(range(lo, lo + step * size, step))
        else:
            spec = {"id": aid, "type": "bool"}
            domains[aid] = [False, True]
        attributes.append(spec)
    ids = [a["id"] for a in attributes]
    planted = [{a: rng.choice(domains[a]) for a in ids} for _ in range(n_planted)]

    # table scopes -------------------------------------------------------------------------
    # Wide random tables pin their attributes to (near) the planted configurations, so a model
    # made only of them is decided after two or three picks. As in real products, a share of
    # the attributes (`peripheral`: accessories, options) is therefore constrained only by
    # small tables (arity <= 3, half of them coupled to one core attribute), while the core
    # attributes carry the wide and tight tables. Every attribute is in at least one table.
    arities = [min(a, max_arity, n_attrs) for a in _arities(n_tables, rng)]
    order = ids[:]
    rng.shuffle(order)
    n_core = max(max_arity, round(n_attrs * core_share))
    core, peripheral = order[:n_core], order[n_core:]
    scopes: list[list[str]] = [[] for _ in arities]
    small_t = [t for t, a in enumerate(arities) if a <= 3]
    big_t = [t for t, a in enumerate(arities) if a > 3] or list(range(len(arities)))
    if not peripheral or not small_t:
        core, peripheral, small_t, big_t = ids, [], [], list(range(len(arities)))
    for group, tables in ((core, big_t), (peripheral, small_t)):
        pool, slot = group[:], 0
        for t in tables:                       # round-robin the shuffled attributes first
            while len(scopes[t]) < arities[t] and slot < len(pool):
                scopes[t].append(pool[slot])
                slot += 1
    for t, a in enumerate(arities):
        if t in small_t and len(scopes[t]) < a and rng.random() < 0.5:
            scopes[t].append(rng.choice(core))     # couple the option to the core
        pool = peripheral if t in small_t else core
        while len(scopes[t]) < a:
            x = rng.choice(pool)
            if x not in scopes[t]:
                scopes[t].append(x)

    # table kinds and row budgets -----------------------------------------------------------
    sizes = [prod(len(domains[x]) for x in s) for s in scopes]
    big = [t for t, s in enumerate(sizes) if s >= 500]
    tight = set(rng.sample(big, min(len(big), n_tables // 5)))
    kind_of, budget = {}, {}
    for t, size in enumerate(sizes):
        if t in tight:
            kind_of[t], budget[t] = "tight", n_planted + rng.randint(0, 8)
        elif size <= ENUM_LIMIT:
            kind_of[t], budget[t] = "small", max(1, int(size * rng.uniform(0.2, 0.8)))
        else:
            kind_of[t] = "wide" if len(scopes[t]) >= 7 else "medium"
    fixed = sum(budget.values())
    open_tables = [t for t in range(n_tables) if t not in budget]
    weights = {t: rng.uniform(0.3, 1.7) for t in open_tables}
    left = max(0, target_rows - fixed)
    # distribute what is left, capping every table at a fraction of its size (sparse when wide)
    for _ in range(4):
        wsum = sum(weights.values()) or 1.0
        spill = 0
        for t in list(weights):
            want = budget.get(t, 0) + int(left * weights[t] / wsum)
            cap = int(sizes[t] * (0.3 if kind_of[t] == "medium" else 0.05))
            if want >= cap:
                spill += want - cap
                budget[t] = cap
                del weights[t]
            else:
                budget[t] = want
        left = spill
        if not left or not weights:
            break
    loose = [t for t in range(n_tables) if kind_of[t] != "tight"]
    wildcard_tables = set(rng.sample(loose, min(10, len(loose))))

    # rows ---------------------------------------------------------------------------------
    rules, total_rows = [], 0
    per_kind: dict[str, list[int]] = {}
    per_arity: dict[int, int] = {}
    for t, scope in enumerate(scopes):
        doms = [domains[x] for x in scope]
        rows: dict[tuple, None] = {}
        for p in planted:
            rows[tuple(p[x] for x in scope)] = None
        plants = list(rows)
        want = max(budget[t], len(rows))
        if kind_of[t] == "small" and want >= sizes[t] // 2:
            # dense: draw the forbidden complement instead of rejection-sampling the allowed
            every = [()]
            for d in doms:
                every = [c + (v,) for c in every for v in d]
            rest = [c for c in every if c not in rows]
            rng.shuffle(rest)
            for c in rest[: max(0, want - len(rows))]:
                rows[c] = None
        else:
            attempts = 0
            while len(rows) < want and attempts < want * 20:
                attempts += 1
                if rng.random() < 0.5:
                    row = list(rng.choice(plants))
                    for j in rng.sample(range(len(scope)), rng.randint(1, max(1, len(scope) // 3))):
                        row[j] = rng.choice(doms[j])
                    rows[tuple(row)] = None
                else:
                    rows[tuple(rng.choice(d) for d in doms)] = None
        out = list(rows)
        if t in wildcard_tables:
            for _ in range(rng.randint(1, 3)):
                row = list(rng.choice(plants))
                for j in rng.sample(range(len(scope)), rng.randint(1, 2)):
                    row[j] = "*"
                out.append(tuple(row))
        rng.shuffle(out)
        total_rows += len(out)
        per_kind.setdefault(kind_of[t], [0, 0])
        per_kind[kind_of[t]][0] += 1
        per_kind[kind_of[t]][1] += len(out)
        per_arity[len(scope)] = per_arity.get(len(scope), 0) + 1
        rules.append({"id": f"t{t:03d}", "message": f"Incompatible combination ({kind_of[t]} table {t}).",
                      "table": {"attributes": scope, "allowed": [list(r) for r in out]}})
    model = {"product": "synthetic-bench", "name": f"Synthetic benchmark model (seed {seed})",
             "version": 1, "description": f"Generated by bench/generate.py, seed {seed}.",
             "attributes": attributes, "rules": rules}
    return Generated(model, planted, total_rows, {k: tuple(v) for k, v in per_kind.items()},
                     dict(sorted(per_arity.items())), sum(len(d) for d in domains.values()))


def _cell(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def write_files(model: dict, out_dir: str | Path) -> Path:
    """Write DIR/model.yaml with every table in DIR/tables/<rule>.csv (`allowed_file`)."""
    import yaml
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    doc = dict(model)
    doc["rules"] = []
    for rule in model["rules"]:
        table = rule["table"]
        name = f"tables/{rule['id']}.csv"
        with (out_dir / name).open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([_cell(v) for v in row] for row in table["allowed"])
        doc["rules"].append({**rule, "table": {"attributes": table["attributes"], "allowed_file": name}})
    path = out_dir / "model.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--rows", type=int, default=ROWS, help="allowed rows wanted in all tables")
    ap.add_argument("--out", help="write DIR/model.yaml and DIR/tables/*.csv")
    ap.add_argument("--check", action="store_true", help="load the model with the catalog loader")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    g = generate(args.seed, target_rows=args.rows)
    print(f"generated in {time.perf_counter() - t0:.2f}s: {g.summary()}")
    print("tables per arity:", ", ".join(f"{a}: {n}" for a, n in g.arity.items()))
    print(f"allowed rows in all: {g.rows}")
    if args.out:
        path = write_files(g.model, args.out)
        print(f"wrote {path} and {len(g.model['rules'])} CSV files")
    if args.check:
        from catalog.loader import load_model_dict, load_model_file
        t0 = time.perf_counter()
        m = load_model_file(path) if args.out else load_model_dict(g.model)
        print(f"loaded {len(m.attributes)} attributes, {len(m.rules)} rules in {time.perf_counter() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
