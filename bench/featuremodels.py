"""Convert a DIMACS feature model to a product model dict in our format.

Every DIMACS variable becomes a `bool` attribute, named from its `c <n> <name>` comment
(sanitised to `[a-z_][a-z0-9_]*` and made unique by a `f<n>_` prefix, e.g. `f123_name`;
the original name is the label). Every clause becomes a `constraint` rule such as
`f1_root or not f2_cpu`.

    .venv/bin/python bench/featuremodels.py ../shared/benchmarks/feature-models/busybox-1.18.0_Knueppel2017.dimacs \
        --out /tmp/busybox.yaml [--check]

Paths are relative to the project root (the folder holding bench/), as in the shared README.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_MODELS = ROOT / ".." / "shared" / "benchmarks" / "feature-models"
# short name -> file, in benchmark order
FEATURE_MODELS = {
    "pc-richmond": "pc-richmond_Sprey2020.dimacs",
    "busybox": "busybox-1.18.0_Knueppel2017.dimacs",
    "automotive01": "automotive01_Kowal2016.dimacs",
    "linux": "linux-2.6.33.3_Knueppel2017.dimacs",
}
NAME_LIMIT = 40


@dataclass
class Dimacs:
    nvars: int
    clauses: list[list[int]]
    names: dict[int, str] = field(default_factory=dict)   # variable -> feature name


def parse_dimacs(text: str) -> Dimacs:
    names: dict[int, str] = {}
    nvars = 0
    clauses: list[list[int]] = []
    current: list[int] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("c"):
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[1].isdigit():
                names[int(parts[1])] = parts[2] if len(parts) == 3 else ""
            continue
        if line.startswith("p"):
            parts = line.split()
            if len(parts) < 4 or parts[1] != "cnf":
                raise ValueError(f"bad problem line: {line!r}")
            nvars = int(parts[2])
            continue
        if line.startswith("%"):        # some generators end the file with '%\n0'
            break
        for tok in line.split():
            x = int(tok)
            if x == 0:
                clauses.append(current)
                current = []
            else:
                current.append(x)
    if current:
        clauses.append(current)
    nvars = max([nvars, *names, *(abs(x) for c in clauses for x in c)])
    return Dimacs(nvars, clauses, names)


def sanitise(name: str) -> str:
    s = re.sub(r"[^a-z0-9_]+", "_", name.lower())
    s = re.sub(r"_+", "_", s).strip("_")
    return s[:NAME_LIMIT].rstrip("_")


def attribute_ids(d: Dimacs) -> dict[int, str]:
    """Variable -> attribute id: `f<n>_<sanitised name>` (unique because of the number)."""
    ids, seen = {}, set()
    for v in range(1, d.nvars + 1):
        base = sanitise(d.names.get(v, ""))
        ident = f"f{v}_{base}" if base else f"f{v}"
        while ident in seen:        # cannot happen with the numeric prefix; kept for safety
            ident += "_"
        seen.add(ident)
        ids[v] = ident
    return ids


def product_code(stem: str) -> str:
    code = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")
    return code if code and code[0].isalnum() else "fm-" + code


def to_model_dict(d: Dimacs, product: str = "feature-model", name: str | None = None) -> dict:
    ids = attribute_ids(d)
    attributes = []
    for v in range(1, d.nvars + 1):
        label = (d.names.get(v) or "").strip() or ids[v]
        attributes.append({"id": ids[v], "type": "bool", "label": label})
    rules = []
    for i, clause in enumerate(d.clauses, 1):
        lits = list(dict.fromkeys(clause))            # drop repeated literals, keep order
        if not lits:
            text = "false"
        else:
            text = " or ".join(ids[x] if x > 0 else f"not {ids[-x]}" for x in lits)
        rules.append({"id": f"c{i}", "message": f"Feature-model clause {i}: {text}",
                      "constraint": text})
    return {"product": product, "name": name or product, "version": 1,
            "description": f"Converted from DIMACS: {d.nvars} features, {len(d.clauses)} clauses.",
            "attributes": attributes, "rules": rules}


def load_dimacs(path: str | Path) -> Dimacs:
    return parse_dimacs(Path(path).read_text(encoding="utf-8", errors="replace"))


def convert_file(path: str | Path) -> tuple[dict, Dimacs]:
    path = Path(path)
    d = load_dimacs(path)
    return to_model_dict(d, product_code(path.stem), path.stem), d


def resolve(path: str) -> Path:
    """A path as given, else relative to the project root (how the shared README names them)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else ROOT / p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dimacs", help="DIMACS file, or a short name: " + ", ".join(FEATURE_MODELS))
    ap.add_argument("--out", help="write the model as YAML to this file")
    ap.add_argument("--check", action="store_true", help="load the written (or converted) model with the catalog loader")
    args = ap.parse_args(argv)
    path = SHARED_MODELS / FEATURE_MODELS[args.dimacs] if args.dimacs in FEATURE_MODELS else resolve(args.dimacs)
    if not path.exists():
        print(f"{path}: not found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    model, d = convert_file(path)
    print(f"{path.name}: {d.nvars} features, {len(d.clauses)} clauses, "
          f"converted in {time.perf_counter() - t0:.2f}s")
    if args.out:
        import yaml
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(model, sort_keys=False, width=1000), encoding="utf-8")
        print(f"wrote {out}")
    if args.check:
        from core.validation import DocumentValidationError
        from catalog.loader import load_model_dict, load_model_file
        t0 = time.perf_counter()
        try:
            m = load_model_file(args.out) if args.out else load_model_dict(model)
        except DocumentValidationError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"loaded: {len(m.attributes)} attributes, {len(m.rules)} rules "
              f"in {time.perf_counter() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
