"""The app served as in production (gunicorn with api/gunicorn_config.py) in a child process,
for the load benchmark and the tests that need real worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int                  # gunicorn's master; its workers are its children

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the master and its live workers so far."""
        return cpu_seconds(self.pid)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of process `pid`, its live children (gunicorn's or a
    Celery worker's pool) and the children it has reaped (a worker recycled after its
    max_requests: without them the figure fell when one was)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue                              # a process that just ended
        if stat.parent.name == str(pid):
            total += sum(map(int, fields[11:15]))                    # utime, stime, cutime, cstime
        elif fields[1] == str(pid):                                  # fields[1]: parent pid
            total += int(fields[11]) + int(fields[12])
    return total / tick


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 1, threads: int = 8, log: Path | None = None,
             options: tuple[str, ...] = (), task_workers: int = 0) -> Iterator[Server]:
    """Serve on a free port of 127.0.0.1 until the block ends; yields the server once /healthz
    answers. `env` is added to this process's environment (DATABASE_URL, SECRET_KEY,
    CPQ_QUEUE_URL...; without a queue, a local folder queue of its own); `task_workers`
    `cpq worker` processes run beside it. The server's log goes to `log` (else it is dropped)."""
    with ExitStack() as stack:
        if not env.get("CPQ_QUEUE_URL"):
            env = env | {"CPQ_QUEUE_URL": f"filesystem://{stack.enter_context(tempfile.TemporaryDirectory())}"}
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_config", "--bind",
                   f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads), *options, "api.wsgi:app"]
        server = stack.enter_context(process(command, env, log))
        for _ in range(task_workers):
            stack.enter_context(process([sys.executable, "-m", "cli.main", "worker", "--concurrency", "1"], env, log))
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(server, url, log)
        yield Server(url, server.pid)


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path | None) -> Iterator[subprocess.Popen]:
    """A child process, stopped with SIGTERM (then killed, after 30 s) when the block ends."""
    with open(log or os.devnull, "ab") as out:
        child = subprocess.Popen(command, env=os.environ | env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_until_up(server: subprocess.Popen, url: str, log: Path | None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"gunicorn exited with status {server.returncode}\n{tail}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {url} within 60 s")
