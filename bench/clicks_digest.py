"""Clicks made repeatable: the answers' digest, solver calls and (under callgrind) instructions.

Propagation picks its strategy by measured rates (CPU time, `configurator/propagate.py`), so
two runs of one code take different decisions and callgrind cannot compare two codes. Here
that clock is a counter of its own readings, so a run is the same every time under
PYTHONHASHSEED=0, and a change that should not alter the search must print the same digest
and the same number of solver calls and readings as the code before it. The sessions are
those of bench/configurator.py (the same seeds; no explanations before them). Under
callgrind (CALLGRIND=1) the counters are zeroed after compiling and dumped after the clicks,
so the dump ending in `.1` holds the clicks alone.

    PYTHONHASHSEED=0 .venv/bin/python bench/clicks_digest.py --sessions 8
    CALLGRIND=1 PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/clicks_digest.py --sessions 4        # then: head /tmp/cg.out.1
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):     # this tree's code, even when PYTHONPATH names another
    sys.path.insert(0, str(ROOT))

from bench import featuremodels as fm  # noqa: E402
from bench.generate import ROWS, SEED, generate  # noqa: E402
from bench.measure import SolverProbe, pct  # noqa: E402


class Counter:
    """A clock that advances 0.1 ms at each reading."""

    def __init__(self):
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return self.readings * 1e-4


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="generated", help="generated, or a feature model of bench/featuremodels.py")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1, help="bench/configurator.py's --seed")
    args = ap.parse_args(argv)

    import configurator.propagate as propagate
    from catalog.loader import load_model_dict
    from configurator.engine import Configurator

    clock = Counter()
    propagate.thread_time = clock
    if args.model == "generated":
        data, cap = generate(SEED, target_rows=ROWS).model, None
    else:
        data, _ = fm.convert_file(fm.SHARED_MODELS / fm.FEATURE_MODELS[args.model])
        cap = 60                                    # bench/configurator.py's step cap
    cfg = Configurator(load_model_dict(data))
    probe = SolverProbe(cfg._solver)
    callgrind = os.environ.get("CALLGRIND") == "1"
    if callgrind:
        subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
    digest = hashlib.sha256()
    cpu: list[float] = []
    for s in range(args.sessions):
        rng = random.Random(args.seed * 1000 + s)
        selections: dict = {}
        result = cfg.configure(selections)
        while cap is None or len(selections) < cap:
            undecided = [st for st in result.attributes if st.id not in selections and len(st.domain) > 1]
            if not undecided:
                break
            st = rng.choice(undecided)
            selections[st.id] = rng.choice(st.domain)
            started = time.process_time()
            result = cfg.configure(selections)
            cpu.append(time.process_time() - started)
            if probe.solver is not cfg._solver:     # rebuilt during the click
                probe.attach(cfg._solver)
            digest.update(repr([(a.id, a.domain, a.excluded) for a in result.attributes]).encode())
    if callgrind:
        subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
    print(f"{args.model}: {len(cpu)} clicks in {args.sessions} sessions; solver calls {probe.calls} "
          f"({probe.unsat} unsat); clock readings {clock.readings}; CPU {sum(cpu):.2f} s, "
          f"p99 {pct(cpu, .99) * 1000:.1f} ms (the decisions differ from a real clock's)")
    print(f"digest {digest.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
