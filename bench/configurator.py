"""Configurator engine benchmark: load/compile time, memory, per-interaction latency.

For each model (the generated one, and pc-richmond, busybox, automotive01 from
../shared/benchmarks/feature-models/; linux with --linux) it prints the time to build the
model dict, to load it (`load_model_dict`), to compile it (`Configurator(model)`: encoding,
solver set-up and the root analysis), memory, and then runs simulated sessions: start with
no selection, repeatedly pick a random still-undecided attribute and a random value of its
*current* domain (so a session never goes invalid), call `configure`, and time it (wall
and CPU time; the machine may be shared). Before the sessions, a few random picks are made
on the fresh engine and the values they excluded are explained (`explain`): the first
explanation is the cold one. Every explanation is checked real and minimal afterwards.
Exactness is spot-checked at a few steps against an independent oracle (a fresh solver of
another kind: on the original DIMACS clauses for the feature models, on the encoding's
clauses for the generated model, whose witnesses are also checked by evaluating every rule
directly). The slowest clicks are printed with their solver calls and the garbage collector's
time during them (`--slowest`).

Every model runs in its own child process, so its memory figures start from a clean
process and one model's caches cannot help another. Sessions of one model share one
Configurator, as in production; its per-selection cache is reported (hits).

    .venv/bin/python bench/configurator.py                  # default run, ~10 minutes
    .venv/bin/python bench/configurator.py --quick          # ~1 minute smoke run
    .venv/bin/python bench/configurator.py --models generated,automotive01 --sessions 5
    .venv/bin/python bench/configurator.py --linux          # adds linux-2.6.33.3 (stretch)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path[0] != str(ROOT):     # first even when PYTHONPATH names it: this file would shadow the package
    sys.path.insert(0, str(ROOT))

from bench import explanations  # noqa: E402
from bench import featuremodels as fm  # noqa: E402
from bench.generate import ROWS as GEN_ROWS, SEED as GEN_SEED  # noqa: E402
from bench.measure import Clock, GcTimer, SolverProbe, pct, proc_status, reset_peak  # noqa: E402
from bench.oracle import (CONFLICT_SOLVER, ORACLE_SOLVER, ConflictChecker, Oracle,  # noqa: E402
                          RuleChecker, describe)

CLICK_TARGETS_MS = {"generated": {"p95": 10.0, "p99": 30.0}, "automotive01": {"p95": 30.0, "p99": 60.0}}
DEFAULT_P95_MS = 250.0          # human real-time threshold (Hadzic et al.) for the other models
EXPLAIN_TARGETS = {"first_ms": 500.0, "later_p50_ms": 50.0, "rss_mb": 100.0}
TARGET_COMPILE_S = 10.0
# seconds of sessions per model (a session in progress is cut when its model's budget is spent)
BUDGET = {"generated": 180.0, "pc-richmond": 15.0, "busybox": 30.0, "automotive01": 100.0, "linux": 240.0}
QUICK_BUDGET = {"generated": 6.0, "pc-richmond": 2.0, "busybox": 3.0, "automotive01": 6.0, "linux": 10.0}
STEP_CAP = {"pc-richmond": 60, "busybox": 60, "automotive01": 60, "linux": 60}   # generated: all


# ---- one model (child process) ---------------------------------------------------------------

def build(name: str, args) -> tuple[dict, dict]:
    """The model dict and what the oracle needs to know about its origin."""
    if name == "generated":
        from bench.generate import generate
        g = generate(args.model_seed, target_rows=args.generated_rows)
        print(f"  generated: {g.summary()}", flush=True)
        print(f"  allowed rows in all: {g.rows} (exact)", flush=True)
        return g.model, {"kind": "generated", "gen": g}
    path = fm.SHARED_MODELS / fm.FEATURE_MODELS[name]
    model, d = fm.convert_file(path)
    return model, {"kind": "dimacs", "dimacs": d}


def run_model(name: str, args) -> dict:
    from catalog.loader import load_model_dict
    from configurator.engine import Configurator

    res: dict = {"model": name}
    mem0 = proc_status()
    per_phase = reset_peak()

    t = time.perf_counter()
    data, origin = build(name, args)
    res["build_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model = load_model_dict(data)
    res["load_s"] = time.perf_counter() - t
    res["attributes"], res["rules"] = len(model.attributes), len(model.rules)
    res["values"] = sum(len(a.domain) for a in model.attributes)

    if name == "generated" and not args.quick:
        from bench.generate import write_files
        from catalog.loader import load_model_file
        with tempfile.TemporaryDirectory(prefix="cpq-bench-") as tmp:
            path = write_files(data, tmp)
            t = time.perf_counter()
            load_model_file(path)
            res["load_files_s"] = time.perf_counter() - t
        print(f"  load from YAML + {len(data['rules'])} CSV files (allowed_file): "
              f"{res['load_files_s']:.2f}s", flush=True)

    if per_phase:
        reset_peak()
    mem_before = proc_status()
    t = time.perf_counter()
    cfg = Configurator(model)
    res["compile_s"] = time.perf_counter() - t
    mem_compile = proc_status()
    enc = cfg.enc
    res["cnf_vars"] = enc.nvars
    res["cnf_clauses"] = len(enc.structure) + sum(len(c) for c in enc.rule_clauses.values())
    res["rss_compile_mb"] = mem_compile["VmRSS"] - mem_before["VmRSS"]
    res["peak_compile_mb"] = (mem_compile["VmHWM"] - mem_before["VmRSS"]) if per_phase else None
    print(f"  build {res['build_s']:.2f}s  load {res['load_s']:.2f}s  compile {res['compile_s']:.2f}s "
          f"({res['cnf_vars']:,} vars, {res['cnf_clauses']:,} clauses)  "
          f"RSS +{res['rss_compile_mb']:.0f} MiB for the compiled engine"
          + (f" (peak +{res['peak_compile_mb']:.0f} MiB while compiling)" if per_phase else ""), flush=True)

    explain, asked = explanations.measure(cfg, args.seed * 1000 + 999, args.explanations)
    res["explain"] = explain
    if explain["count"]:
        print(f"  explanations after {explain['picks']} picks: first {explain['first_ms']:.0f} ms "
              f"(CPU {explain['first_cpu_ms']:.0f} ms, RSS +{explain['rss_growth_mb']:.0f} MiB), "
              f"{explain['count'] - 1} later: median {fmt_ms(explain['later_p50_ms'])} ms "
              f"(CPU {fmt_ms(explain['later_cpu_p50_ms'])} ms), max {fmt_ms(explain['later_max_ms'])} ms",
              flush=True)

    # oracle
    if origin["kind"] == "dimacs":
        d = origin["dimacs"]
        ids = fm.attribute_ids(d)
        lit_of = {}
        for v, aid in ids.items():
            lit_of[(aid, True)], lit_of[(aid, False)] = v, -v
        oracle = Oracle(d.clauses, lit_of)
        oracle_kind = f"{ORACLE_SOLVER} on the original DIMACS clauses"
        conflicts = ConflictChecker([], lambda rule_id: [d.clauses[int(rule_id[1:]) - 1]], lit_of)
    else:
        clauses = list(enc.structure) + [c for rid in enc.rule_clauses for c in enc.eager_clauses(rid)]
        oracle = Oracle(clauses, dict(enc.lit), RuleChecker(model))
        conflicts = ConflictChecker(enc.structure, enc.eager_clauses, enc.lit)
        oracle_kind = f"{ORACLE_SOLVER} on the encoding's clauses + direct rule evaluation of witnesses"
        planted_bad = sum(1 for p in origin["gen"].planted if not cfg.configure(p).valid)
        res["planted_invalid"] = planted_bad
        print(f"  planted configurations rejected by the engine: {planted_bad} of {len(origin['gen'].planted)}",
              flush=True)
        cfg._cache.clear() if hasattr(cfg, "_cache") else None
    explain_errors = [e for attr, value, conflict in asked if conflict is not None
                      for e in conflicts.errors(attr, value, conflict)]
    explain_errors += [f"{attr}={value} is excluded but has no explanation"
                       for attr, value, conflict in asked if conflict is None]
    explain["errors"] = explain_errors
    if asked:
        print(f"  explanations checked ({CONFLICT_SOLVER}): {len(asked)} conflicts, "
              + ("all real and minimal" if not explain_errors else f"ERRORS: {explain_errors[:3]}"), flush=True)

    # sessions
    probe = SolverProbe(cfg._solver)
    budget = (QUICK_BUDGET if args.quick else BUDGET).get(name, 60.0) * args.budget_scale
    cap = args.steps or STEP_CAP.get(name, len(model.attributes))
    check_steps = {int(x) for x in args.check_steps.split(",") if x.strip()} if args.check_steps else set()
    lat, cpu, lat_first, sat_calls, sat_secs, hits, subset_hits = [], [], [], [], [], 0, 0
    open_lat, sessions_done, cut, session_lengths, decided_sessions = [], 0, False, [], 0
    checks = []
    clicks = []         # (CPU s, wall s, session, step, solver calls, unsat, solver s, collector s, collections)
    collector = GcTimer()
    collector.start()
    cache = getattr(cfg, "_cache", None)
    check_cap = args.check_cap * (1.5 if name == "generated" else 1.0)
    spent = 0.0
    print(f"  sessions: up to {args.sessions}, step cap {cap}, budget {budget:.0f}s; "
          f"oracle: {oracle_kind}", flush=True)
    for s in range(args.sessions):
        if spent >= budget:
            cut = True
            break
        rng = random.Random(args.seed * 1000 + s)
        sel: dict = {}
        t = time.perf_counter()
        result = cfg.configure(sel)
        open_lat.append(time.perf_counter() - t)
        steps = 0
        if s < args.check_sessions and 0 in check_steps:
            c = oracle.check(sel, result, check_cap)
            checks.append(("root", c))
            print(f"    check s{s} root (no selection): {describe(c)}", flush=True)
        while steps < cap:
            undecided = [st for st in result.attributes if st.id not in sel and len(st.domain) > 1]
            if not undecided:
                decided_sessions += 1
                break
            if spent >= budget:
                cut = True
                break
            st = rng.choice(undecided)
            sel[st.id] = rng.choice(st.domain)
            if cache is not None:
                lits = [enc.lit[(a, v)] for a, v in sel.items()]
                key = frozenset(lits)
                hits += key in cache
                subset_hits += any((key - {x}) in cache for x in lits)
            before, gc_before = probe.snapshot(), collector.snapshot()
            with Clock() as clock:
                result = cfg.configure(sel)
            dt = clock.wall
            after, gc_after = probe.snapshot(), collector.snapshot()
            if probe.solver is not cfg._solver:     # rebuilt during the click (its last calls go uncounted)
                probe.attach(cfg._solver)
            spent += dt
            steps += 1
            if not result.valid:
                raise SystemExit(f"{name}: session {s} went invalid at step {steps}: {result.conflicts}")
            lat.append(dt)
            cpu.append(clock.cpu)
            if steps == 1:
                lat_first.append(dt)
            sat_calls.append(after[0] - before[0])
            sat_secs.append(after[4] - before[4])
            clicks.append((clock.cpu, dt, s, steps, after[0] - before[0], after[2] - before[2], after[4] - before[4],
                           gc_after[0] - gc_before[0], sum(gc_after[1:]) - sum(gc_before[1:])))
            if args.verbose:
                print(f"    s{s} step {steps}: {dt * 1000:.1f} ms, {after[0] - before[0]} solves "
                      f"({after[2] - before[2]} unsat), {len(undecided) - 1} undecided before", flush=True)
            if s < args.check_sessions and steps in check_steps:
                c = oracle.check(sel, result, check_cap)
                checks.append((f"s{s}/step{steps}", c))
                print(f"    check s{s} step {steps}: {describe(c)}", flush=True)
        session_lengths.append(steps)
        sessions_done += 1
        if lat:
            print(f"    session {s}: {steps} interactions, running p50 {pct(lat, .5) * 1000:.1f} ms, "
                  f"p95 {pct(lat, .95) * 1000:.1f} ms, p99 {pct(lat, .99) * 1000:.1f} ms, "
                  f"spent {spent:.1f}s", flush=True)
    collector.stop()
    slowest = sorted(clicks, reverse=True)[:args.slowest]
    if slowest:
        print(f"  the {len(slowest)} slowest clicks by CPU (ms; solver: calls, unsat, wall ms inside it; "
              f"collector: CPU ms, collections):", flush=True)
        for c, w, sess, step, calls, unsat, secs, gc_secs, gcs in slowest:
            print(f"    s{sess} step {step}: CPU {c * 1000:.1f}, wall {w * 1000:.1f}; solver {calls}, {unsat}, "
                  f"{secs * 1000:.1f}; collector {gc_secs * 1000:.1f}, {gcs}", flush=True)
    print(f"  collector during clicks: {collector.seconds * 1000:.1f} ms CPU in all, collections per generation "
          f"{collector.collections}", flush=True)
    mem_end = proc_status()
    res.update({
        "sessions": sessions_done, "cut_by_budget": cut, "interactions": len(lat),
        "session_lengths": session_lengths, "sessions_fully_decided": decided_sessions,
        **{f"{key}{q}_ms": pct(values, q / 100) * 1000 for key, values in (("p", lat), ("cpu_p", cpu))
           for q in (50, 95, 99)},
        "max_ms": max(lat) * 1000 if lat else float("nan"),
        "cpu_max_ms": max(cpu) * 1000 if cpu else float("nan"),
        "cpu_share": sum(cpu) / sum(lat) if lat else float("nan"),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "first_step_p50_ms": pct(lat_first, .5) * 1000,
        "open_ms": pct(open_lat, .5) * 1000,
        "solves_per_interaction": statistics.fmean(sat_calls) if sat_calls else 0.0,
        "solver_share": (sum(sat_secs) / sum(lat)) if lat else 0.0,
        "cache_hits": hits, "subset_reuse": subset_hits,
        "cache_entries": len(cache) if cache is not None else None,
        "cache_mb": (sum(sys.getsizeof(v) + 32 * len(v) for v in cache.values() if v is not None)
                     / 2 ** 20) if cache is not None else None,
        "rss_end_mb": mem_end["VmRSS"], "peak_mb": mem_end["VmHWM"] if not per_phase else
        max(mem_end["VmHWM"], mem_compile["VmHWM"]),
        "rss_start_mb": mem0["VmRSS"],
        "checks": [{"at": at, **c} for at, c in checks],
        "gc_ms": collector.seconds * 1000, "gc_collections": collector.collections,
        "check_errors": sum(len(c["errors"]) for _, c in checks),
        "check_partial": any(c["partial"] for _, c in checks),
    })
    if not per_phase:
        res["peak_mb"] = mem_end["VmHWM"]
    return res


# ---- orchestration -------------------------------------------------------------------------

def fmt_ms(x) -> str:
    return "-" if x is None or x != x else (f"{x:.0f}" if x >= 100 else f"{x:.1f}")


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def grid(head: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(row[i]) for row in rows if len(row) > i]) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line(head), line(["-" * w for w in widths])]
    for row in rows:
        out.append(line(row) if len(row) > 2 else "  ".join(row))
    return "\n".join(out)


def table(results: list[dict]) -> str:
    """Three tables: the models and their compilation, click latency, explanations."""
    models, clicks, explains = [], [], []
    for r in results:
        if "skipped" in r:
            models.append([r["model"], "skipped: " + r["skipped"]])
            continue
        exact = r["check_errors"] == 0 if r["checks"] else None
        models.append([
            r["model"], str(r["attributes"]), str(r["rules"]), f"{r['build_s']:.2f}", f"{r['load_s']:.2f}",
            f"{r['compile_s']:.2f}", fmt_ms(r['rss_compile_mb']), f"{r['peak_mb']:.0f}",
            f"{r['sessions']}{'*' if r['cut_by_budget'] else ''}", str(r["interactions"]),
            f"{r['solves_per_interaction']:.0f}", verdict(exact) + ("~" if r["check_partial"] else ""),
            verdict(r["compile_s"] <= TARGET_COMPILE_S)])
        targets = CLICK_TARGETS_MS.get(r["model"], {"p95": DEFAULT_P95_MS})
        met = all(r[f"{q}_ms"] <= limit for q, limit in targets.items()) if r["interactions"] else None
        clicks.append([r["model"]] + [fmt_ms(r[f"{k}_ms"]) for k in ("p50", "p95", "p99", "max")]
                      + [fmt_ms(r[f"cpu_{k}_ms"]) for k in ("p50", "p95", "p99", "max")]
                      + [f"{verdict(met)} ({', '.join(f'{q}<={v:.0f}' for q, v in targets.items())}"
                         + ("" if r["model"] in CLICK_TARGETS_MS else "*") + ")"])
        e = r.get("explain") or {"count": 0}
        if e["count"]:
            met = (e["first_ms"] <= EXPLAIN_TARGETS["first_ms"] and e["rss_growth_mb"] <= EXPLAIN_TARGETS["rss_mb"]
                   and not e["later_p50_ms"] > EXPLAIN_TARGETS["later_p50_ms"])
            explains.append([r["model"], str(e["count"]), fmt_ms(e["first_ms"]), fmt_ms(e["first_cpu_ms"]),
                             f"{e['rss_growth_mb']:.0f}", fmt_ms(e["later_p50_ms"]), fmt_ms(e["later_cpu_p50_ms"]),
                             fmt_ms(e["later_max_ms"]), "PASS" if not e.get("errors") else "FAIL", verdict(met)])
    return "\n\n".join([
        grid(["model", "attrs", "rules", "build s", "load s", "compile s", "RSS MiB", "peak MiB", "sess", "inter",
              "solves/int", "exact", "compile<=10s"], models),
        "click latency (configure), ms:\n" + grid(
            ["model", "p50", "p95", "p99", "max", "cpu p50", "cpu p95", "cpu p99", "cpu max", "target"], clicks),
        "explanations (explain), ms; the first on a fresh engine:\n" + grid(
            ["model", "asked", "first", "cpu", "RSS+ MiB", "later p50", "cpu p50", "later max", "minimal",
             "target"], explains)])


def child_argv(args, name: str, result_file: str) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--result", result_file,
            "--sessions", str(args.sessions), "--seed", str(args.seed), "--model-seed", str(args.model_seed),
            "--generated-rows", str(args.generated_rows), "--check-steps", args.check_steps,
            "--check-sessions", str(args.check_sessions), "--check-cap", str(args.check_cap),
            "--budget-scale", str(args.budget_scale), "--explanations", str(args.explanations),
            "--slowest", str(args.slowest)]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    if args.quick:
        argv.append("--quick")
    if args.verbose:
        argv.append("--verbose")
    return argv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", default="generated,pc-richmond,busybox,automotive01",
                    help="comma-separated: generated, pc-richmond, busybox, automotive01, linux")
    ap.add_argument("--linux", action="store_true", help="also run linux-2.6.33.3 (stretch goal)")
    ap.add_argument("--quick", action="store_true", help="smoke run of about a minute")
    ap.add_argument("--sessions", type=int, default=None, help="sessions per model (default 20; quick 2)")
    ap.add_argument("--steps", type=int, default=0, help="step cap per session (default 60 for feature "
                    "models, every attribute for the generated one)")
    ap.add_argument("--budget-scale", type=float, default=1.0,
                    help="multiply every model's session time budget (default budgets: "
                    + ", ".join(f"{k} {v:.0f}s" for k, v in BUDGET.items()) + ")")
    ap.add_argument("--seed", type=int, default=1, help="seed of the sessions' random picks")
    ap.add_argument("--model-seed", type=int, default=GEN_SEED, help="seed of the generated model")
    ap.add_argument("--generated-rows", type=int, default=GEN_ROWS, help="allowed rows of the generated model")
    ap.add_argument("--check-steps", default=None,
                    help="steps of the checked sessions verified by the oracle (0 = the empty selection); "
                    "default 0,1,5,20 (quick: 1)")
    ap.add_argument("--check-sessions", type=int, default=1, help="how many sessions get oracle checks")
    ap.add_argument("--check-cap", type=float, default=None,
                    help="seconds per oracle check (default 40, x1.5 for the generated model; quick 5)")
    ap.add_argument("--explanations", type=int, default=explanations.EXPLANATIONS,
                    help="values explained per model after a few picks (the first on a fresh engine); 0: none")
    ap.add_argument("--verbose", action="store_true", help="print every interaction")
    ap.add_argument("--slowest", type=int, default=10,
                    help="print this many slowest clicks per model, with their solver calls and collector time")
    ap.add_argument("--json", help="also write all figures to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sessions is None:
        args.sessions = 2 if args.quick else 20
    if args.check_steps is None:
        args.check_steps = "1" if args.quick else "0,1,5,20"
    if args.check_cap is None:
        args.check_cap = 5.0 if args.quick else 40.0
    if args.child:
        res = run_model(args.child, args)
        Path(args.result).write_text(json.dumps(res, default=str))
        return 0

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if args.linux and "linux" not in names:
        names.append("linux")
    unknown = [n for n in names if n != "generated" and n not in fm.FEATURE_MODELS]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)}")
    print(f"configurator benchmark: {', '.join(names)}; {args.sessions} sessions/model; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus", flush=True)
    t_all = time.perf_counter()
    results = []
    for name in names:
        if name != "generated":
            path = fm.SHARED_MODELS / fm.FEATURE_MODELS[name]
            if not path.exists():
                print(f"\n== {name}: SKIPPED, {path} is absent (the shared folder is not beside the project)",
                      flush=True)
                results.append({"model": name, "skipped": "shared model absent"})
                continue
        print(f"\n== {name}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            result_file = fh.name
        try:
            proc = subprocess.run(child_argv(args, name, result_file), cwd=ROOT)
            if proc.returncode != 0:
                results.append({"model": name, "skipped": f"child failed (exit {proc.returncode})"})
                continue
            results.append(json.loads(Path(result_file).read_text()))
        finally:
            Path(result_file).unlink(missing_ok=True)
        r = results[-1]
        print(f"  => {r['interactions']} interactions in {r['sessions']} sessions"
              f"{' (cut by the time budget)' if r['cut_by_budget'] else ''}; "
              f"p50 {fmt_ms(r['p50_ms'])} ms, p95 {fmt_ms(r['p95_ms'])} ms, p99 {fmt_ms(r['p99_ms'])} ms, "
              f"max {fmt_ms(r['max_ms'])} ms (CPU p95 {fmt_ms(r['cpu_p95_ms'])} ms, "
              f"{r['cpu_share'] * 100:.0f}% of wall); "
              f"first pick p50 {fmt_ms(r['first_step_p50_ms'])} ms; {r['solves_per_interaction']:.0f} solver "
              f"calls/interaction, {r['solver_share'] * 100:.0f}% of the time inside the solver; "
              f"cache: {r['cache_hits']} exact hits, {r['subset_reuse']} subset reuses, "
              f"{r['cache_entries']} entries ~{r['cache_mb']:.0f} MiB; peak RSS {r['peak_mb']:.0f} MiB", flush=True)

    print(f"\n== summary ({time.perf_counter() - t_all:.0f}s in all)")
    print(table(results))
    print("RSS MiB: resident memory added by Configurator(model); peak MiB: the model's process peak. "
          "sess*: cut by the time budget.\nexact: oracle spot checks (~ = a check hit its time cap). "
          "A click target marked * is the 250 ms real-time threshold, not a stated target.\n"
          "cpu: this process's CPU time (the machine is shared; wall time includes waiting for a core). "
          "Explanation targets: first <= 500 ms, RSS+ <= 100 MiB, later median <= 50 ms; minimal: every "
          "conflict checked real and minimal.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
