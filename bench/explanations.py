"""How fast the configurator says why a value is excluded, cold and warm.

A user makes a few random picks and then asks why values are no longer offered. The first
explanation on a freshly compiled engine is the cold one: it pays for whatever the engine
builds for explanations on first use, and the resident memory it adds is reported too.
The later ones are warm. The values asked about are those the picks excluded (the values a
user sees disappear), topped up with values no configuration has when the picks excluded
too few. The conflicts are returned so that the caller can check them with an oracle after
the timing, which keeps the oracle's memory out of the figures.
"""
from __future__ import annotations

import random
import statistics

from bench.measure import Clock, pct, proc_status

PICKS = 5                  # random picks before the questions
EXPLANATIONS = 20          # questions asked: the first is cold, the rest warm


def measure(cfg, seed: int, count: int = EXPLANATIONS, picks: int = PICKS) -> tuple[dict, list]:
    """({figures}, [(attribute, value, conflict)]) for `count` explanations."""
    rng = random.Random(seed)
    selections: dict = {}
    root = cfg.configure({})
    result = root
    for _ in range(picks):
        undecided = [st for st in result.attributes if st.id not in selections and len(st.domain) > 1]
        if not undecided:
            break
        st = rng.choice(undecided)
        selections[st.id] = rng.choice(st.domain)
        result = cfg.configure(selections)
    offered_at_root = {(st.id, v) for st in root.attributes for v in st.domain}
    excluded = [(st.id, v) for st in result.attributes if st.id not in selections for v in st.excluded]
    rng.shuffle(excluded)
    excluded.sort(key=lambda pair: pair not in offered_at_root)      # stable: by the picks first
    asked = []
    walls, cpus = [], []
    rss0 = proc_status()["VmRSS"]
    for attr, value in excluded[:count]:
        with Clock() as clock:
            explanation = cfg.explain(selections, attr, value)
        walls.append(clock.wall)
        cpus.append(clock.cpu)
        asked.append((attr, value, explanation.conflict))
    if not asked:
        return {"count": 0}, []
    later_wall, later_cpu = walls[1:] or [float("nan")], cpus[1:] or [float("nan")]
    return {
        "count": len(asked), "picks": len(selections),
        "first_ms": walls[0] * 1000, "first_cpu_ms": cpus[0] * 1000,
        "rss_growth_mb": proc_status()["VmRSS"] - rss0,
        "later_p50_ms": statistics.median(later_wall) * 1000,
        "later_cpu_p50_ms": statistics.median(later_cpu) * 1000,
        "later_max_ms": max(later_wall) * 1000, "later_p95_ms": pct(later_wall, .95) * 1000,
        "conflict_sizes": [len(c.selections) + len(c.rules) for _, _, c in asked if c is not None],
    }, asked
