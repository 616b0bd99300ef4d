"""Measurement helpers of the benchmarks: memory, percentiles, wall and CPU time, solver calls.

The machine is shared, so every latency is taken as wall time and as this process's CPU
time (`time.process_time`): CPU time is what the engine costs, wall time what a user waits.
"""
from __future__ import annotations

import gc
import time


def proc_status() -> dict[str, float]:
    """Current and peak resident set size in MiB (Linux /proc; getrusage as a fallback)."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    if "VmHWM" not in out:
        import resource
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.setdefault("VmRSS", out["VmHWM"])
    return out


def reset_peak() -> bool:
    """Reset VmHWM so the next peak is per phase (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q * (len(s) - 1)))))
    return s[k]


class SolverProbe:
    """Counts the engine solver's solve/propagate calls and their time (instance-level wrap)."""

    def __init__(self, solver):
        self.calls = self.sat = self.unsat = self.props = 0
        self.seconds = 0.0
        self.attach(solver)

    def attach(self, solver):
        """Count this solver's calls from now on (the engine rebuilds its solver now and then)."""
        self.solver = solver
        self._solve, self._prop = solver.solve, solver.propagate
        solver.solve, solver.propagate = self.solve, self.propagate

    def solve(self, *args, **kw):
        t = time.perf_counter()
        r = self._solve(*args, **kw)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        if r:
            self.sat += 1
        else:
            self.unsat += 1
        return r

    def propagate(self, *args, **kw):
        t = time.perf_counter()
        r = self._prop(*args, **kw)
        self.seconds += time.perf_counter() - t
        self.props += 1
        return r

    def snapshot(self):
        return (self.calls, self.sat, self.unsat, self.props, self.seconds)


class Clock:
    """Wall and CPU seconds of a block: `with Clock() as c: ...` then c.wall, c.cpu."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


class GcTimer:
    """CPU seconds the cyclic garbage collector has spent, and its collections per generation,
    while started (`gc.callbacks`): a click's share of them tells a collector pause from the
    engine's own work."""

    def __init__(self):
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def start(self):
        gc.callbacks.append(self._callback)

    def stop(self):
        gc.callbacks.remove(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections[info["generation"]] += 1

    def snapshot(self):
        return (self.seconds, *self.collections)
