"""What the benchmark scripts of this directory share.

A benchmark script is a list of cases and the functions that run them; this module
does the rest:

* ``measure(func, params, label)`` runs ``func(params)`` -- a top-level function of
  the script -- in a fresh interpreter (``python <script> --worker <json spec>``,
  dispatched by ``main``), and returns its result dict with the child's peak
  resident memory (``ru_maxrss`` read with ``os.wait4``: BLAS/LAPACK work arrays
  included, which ``tracemalloc`` cannot see), its exit status ("ok", "failed
  (exit 1)", "crashed (SIGSEGV)"...), and how many cores *other* processes kept
  busy meanwhile. A measurement disturbed by other processes is redone (at most
  ``--retries`` times) and the fastest attempt kept. ``best_time`` times a call
  in-process (best of a few repeats).
* ``wait_for_quiet`` waits (at most ``--max-wait`` s) until other processes use
  fewer than ``QUIET_THRESHOLD`` cores (from ``/proc/stat``), before every
  measurement; ``WAITED`` adds up the time spent waiting.
* ``machine_facts`` describes the machine (CPU, cores, memory, versions, BLAS and
  OpenMP thread pools, git commit); ``loadavg`` gives the load average.
* ``Row``, ``text_table`` and ``markdown_table`` render result tables, with ratios
  against a baseline measured in the same run (``ratio``, ``fmt_ratio``,
  ``verdict``).

Only the standard library is imported at module level, so that a worker's memory
floor is that of its own imports.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Before each measurement, wait up to SETTINGS["max_wait"] s for other processes to
# use fewer than QUIET_THRESHOLD cores (the machine may be shared); a measurement
# during which they used more is redone at most SETTINGS["retries"] times.
QUIET_THRESHOLD = 0.3
OTHER_LOAD_NOTE = 0.1  # report other processes' load above this many cores
WORKER_TIMEOUT = 3600.0  # seconds; a hung child is killed and reported
# echo: print a progress line per measurement.
SETTINGS = {"max_wait": 600.0, "retries": 2, "echo": True}
WAITED = [0.0]  # seconds spent waiting for quiet in this run
_WORKDIR = []


# =============================================================================
# Script entry point and the worker side
# =============================================================================
def main(script_main, argv=None):
    """The entry point of a benchmark script: ``sys.exit(_harness.main(main))``.

    ``--worker SPEC`` (the command line ``measure`` builds) runs one measurement in
    this process; anything else is passed on to ``script_main(argv)``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--worker"]:
        spec = json.loads(argv[1])
        result = getattr(sys.modules["__main__"], spec["func"])(spec["params"])
        with open(spec["result"], "w") as fh:
            json.dump(result, fh)
        return 0
    return script_main(argv)


def best_time(fn, repeats, *, budget=None, quiet=False):
    """Run ``fn`` ``repeats`` times (stop early once ``budget`` s are spent).

    With ``quiet``, wait for a quiet machine before each run. Returns the best wall
    time, all times and the last result.
    """
    times, out = [], None
    start_all = time.perf_counter()
    for _ in range(max(1, repeats)):
        if quiet:
            wait_for_quiet()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if budget is not None and time.perf_counter() - start_all > budget:
            break
    return min(times), times, out


# =============================================================================
# Quiet machine
# =============================================================================
def add_options(parser, *, max_wait=600.0, retries=None):
    """Add ``--max-wait`` (and, with a default for it, ``--retries``) to ``parser``."""
    parser.add_argument("--max-wait", type=float, default=max_wait,
                        help="seconds to wait before each measurement for other "
                             "processes to go quiet; 0: do not wait (default "
                             "%(default)s)")
    if retries is not None:
        parser.add_argument("--retries", type=int, default=retries,
                            help="re-measure a run disturbed by other processes at "
                                 "most this many times (default %(default)s)")


def configure(args=None, **settings):
    """Take ``--max-wait`` / ``--retries`` from parsed ``args``, then ``settings``."""
    for key in ("max_wait", "retries"):
        if args is not None and getattr(args, key, None) is not None:
            SETTINGS[key] = getattr(args, key)
    SETTINGS.update(settings)


def _cpu_jiffies():
    """(busy, total) jiffies of all CPUs from /proc/stat, or None."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_cores(interval=1.0):
    """Cores kept busy by other processes over ``interval`` seconds (0 if unknown)."""
    a = _cpu_jiffies()
    time.sleep(interval)
    b = _cpu_jiffies()
    if a is None or b is None or b[1] == a[1]:
        return 0.0
    return len(os.sched_getaffinity(0)) * (b[0] - a[0]) / (b[1] - a[1])


def wait_for_quiet(max_wait=None, threshold=QUIET_THRESHOLD):
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores.

    Returns the last busy-core reading (None when ``max_wait`` <= 0: no waiting).
    """
    max_wait = SETTINGS["max_wait"] if max_wait is None else max_wait
    if max_wait <= 0:
        return None
    start = time.perf_counter()
    busy = busy_cores()
    announced = False
    while busy > threshold and time.perf_counter() - start < max_wait:
        if not announced:
            print(f"  (other processes busy: {busy:.1f} cores; waiting up to "
                  f"{max_wait:.0f} s for quiet)", flush=True)
            announced = True
        busy = busy_cores(2.0)
    WAITED[0] += time.perf_counter() - start
    return busy


def loadavg():
    """The load average (1, 5, 15 min) as text."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# =============================================================================
# Subprocess measurement
# =============================================================================
class WorkerFailed(RuntimeError):
    """A worker that did not complete, with the tail of its output."""


def workdir():
    """A temporary directory for this run (results, logs, arrays); removed at exit."""
    if not _WORKDIR:
        _WORKDIR.append(tempfile.mkdtemp(prefix="rkhsmtl-bench-"))
        atexit.register(shutil.rmtree, _WORKDIR[0], True)
    return _WORKDIR[0]


def measure(func, params=None, label=None, *, retries=None, strict=False):
    """``func(params)`` in a fresh subprocess, redone while others disturbed it.

    ``func`` is a top-level function of the running script; it returns a
    JSON-serialisable dict, with the measured seconds under ``"time"``. An attempt
    during which other processes kept more than ``QUIET_THRESHOLD`` cores busy is
    redone (after waiting for quiet), at most ``retries`` times; the fastest
    successful attempt is kept. A crash or failure is never retried; with
    ``strict`` it raises ``WorkerFailed``.
    """
    retries = SETTINGS["retries"] if retries is None else retries
    label = label or func.__name__
    attempts = []
    for attempt in range(retries + 1):
        out = measure_once(func, params or {}, label)
        attempts.append(out)
        if out["status"] != "ok" or (out["other_load"] or 0.0) <= QUIET_THRESHOLD:
            break
        if attempt < retries and SETTINGS["echo"]:
            print("    (disturbed by other processes; measuring again)", flush=True)
    ok = [a for a in attempts if a["status"] == "ok"]
    best = min(ok, key=lambda a: a["time"]) if ok else attempts[-1]
    best["attempts"] = len(attempts)
    if strict and best["status"] != "ok":
        raise WorkerFailed(f"{label}: {best['status']}; output:\n{best['log_tail']}")
    return best


def measure_once(func, params, label):
    """Run ``func(params)`` in a fresh interpreter; time, peak RSS and exit status.

    Also records how many cores *other* processes kept busy meanwhile
    (``other_load``: system-wide busy CPU time minus the child's own, per second of
    wall time), so that a timing disturbed by a concurrent job can be recognised.
    """
    busy_before = wait_for_quiet()
    tmpdir = workdir()
    result_path = os.path.join(tmpdir, f"{label}.json")
    log_path = os.path.join(tmpdir, f"{label}.log")
    spec = {"func": func.__name__, "params": params, "result": result_path}
    script = sys.modules[func.__module__].__file__
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", json.dumps(spec)]
    if SETTINGS["echo"]:
        print(f"  running {label} ...", end="", flush=True)
    jiffies0 = _cpu_jiffies()
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        timer = threading.Timer(WORKER_TIMEOUT, _kill, (proc.pid,))
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    jiffies1 = _cpu_jiffies()
    other_load = None
    if jiffies0 is not None and jiffies1 is not None and jiffies1[1] > jiffies0[1]:
        ncpu = len(os.sched_getaffinity(0))
        busy_s = ncpu * wall * (jiffies1[0] - jiffies0[0]) / (jiffies1[1] - jiffies0[1])
        other_load = max(0.0, (busy_s - rusage.ru_utime - rusage.ru_stime) / wall)
    out = {"label": label, "wall": wall, "peak_rss_mib": rusage.ru_maxrss / 1024.0,
           "returncode": proc.returncode, "other_load": other_load,
           "busy_before": busy_before}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        out["status"] = f"crashed ({signal.Signals(sig).name})"
    elif proc.returncode != 0:
        out["status"] = f"failed (exit {proc.returncode})"
    else:
        out["status"] = "ok"
        with open(result_path) as fh:
            out.update(json.load(fh))
    if out["status"] != "ok":
        with open(log_path) as fh:
            out["log_tail"] = fh.read()[-2000:]
    if SETTINGS["echo"]:
        load = "?" if other_load is None else f"{other_load:.2f}"
        print(f" {out['status']}, {out.get('time', float('nan')):.3f} s, "
              f"peak RSS {out['peak_rss_mib']:.0f} MiB (child wall {wall:.1f} s, "
              f"other load {load} cores)", flush=True)
    return out


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# =============================================================================
# Machine facts
# =============================================================================
def _proc_field(path, name):
    """The value of the first ``name: value`` line of ``path`` (None if absent)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model():
    return _proc_field("/proc/cpuinfo", "model name") or "unknown"


def machine_facts():
    """An ordered description of the machine and the software versions."""
    import numpy
    import scipy
    import sklearn

    import rkhsmtl

    facts = {}
    facts["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    facts["nproc"] = f"{len(os.sched_getaffinity(0))} (os.cpu_count() = {os.cpu_count()})"
    mem_kib = _proc_field("/proc/meminfo", "MemTotal:")
    facts["CPU model"] = cpu_model()
    facts["memory"] = (f"{int(mem_kib.split()[0]) / 2**20:.1f} GiB" if mem_kib
                       else "unknown")
    facts["platform"] = platform.platform()
    facts["python"] = platform.python_version()
    facts["numpy"] = numpy.__version__
    facts["scipy"] = scipy.__version__
    facts["scikit-learn"] = sklearn.__version__
    facts["rkhsmtl"] = getattr(rkhsmtl, "__version__", "?")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                capture_output=True, text=True, check=True).stdout.strip()
        facts["git commit"] = commit
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        from threadpoolctl import threadpool_info

        libs = []
        for lib in threadpool_info():
            libs.append(
                f"{lib.get('internal_api')} {lib.get('version')} "
                f"({lib.get('user_api')}, {lib.get('num_threads')} threads, "
                f"arch {lib.get('architecture', '-')}, {Path(lib['filepath']).name})"
            )
        facts["threadpools"] = libs
    except ImportError:
        facts["threadpools"] = ["threadpoolctl not installed"]
    return facts


def facts_markdown(facts):
    """``facts`` as a markdown list (lists of values as sub-items)."""
    out = []
    for key, value in facts.items():
        if isinstance(value, list):
            out.append(f"- {key}:")
            out.extend(f"  - {v}" for v in value)
        else:
            out.append(f"- {key}: {value}")
    return out


# =============================================================================
# Result tables
# =============================================================================
def ratio(ours, baseline, kind="slowdown"):
    """ours / baseline (baseline / ours for ``kind="speedup"``); None if one is."""
    if ours is None or baseline is None:
        return None
    return baseline / ours if kind == "speedup" else ours / baseline


def fmt_ratio(r, fmt="{:.2f}x"):
    return "-" if r is None else fmt.format(r)


def verdict(r, target, kind="slowdown"):
    """"pass" / "FAIL" for ratio ``r`` against ``target`` ("n/a" if either is None)."""
    if r is None or target is None:
        return "n/a"
    ok = r >= target if kind == "speedup" else r <= target
    return "pass" if ok else "FAIL"


def markdown_table(header, rows, align=None):
    """Markdown table lines; ``align``: the separator cells (default ``---``)."""
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return out


def text_table(header, rows, first_width=60):
    """A fixed-width text table; the first column is cut at ``first_width``."""
    table = [header] + [list(r) for r in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    widths[0] = min(widths[0], first_width)
    lines = []
    for k, line in enumerate(table):
        cells = []
        for i, c in enumerate(line):
            c = str(c)
            if i == 0 and len(c) > widths[0]:
                c = c[: widths[0] - 3] + "..."
            cells.append(c.ljust(widths[i]))
        lines.append(" | ".join(cells))
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


class Row:
    """One line of a results table: our measurement against a baseline's.

    ``ours`` / ``baseline`` are ``measure`` results (or None). ``kind``:
    "slowdown" (ours / baseline <= target), "speedup" (baseline / ours >= target),
    "completes" (ours ran) or "info". ``check``: (description, value, tolerance)
    of a correctness check, or None.
    """

    HEADER = ["benchmark", "ours", "baseline", "ratio", "target", "result",
              "peak RSS ours", "peak RSS baseline", "correctness check"]

    def __init__(self, benchmark, ours=None, baseline=None, *, kind="slowdown",
                 target=None, target_text="", check=None, note=""):
        self.benchmark = benchmark
        self.ours = ours
        self.baseline = baseline
        self.kind = kind
        self.target = target
        self.target_text = target_text
        self.check = check
        self.note = note

    @staticmethod
    def _ok(m):
        return m is not None and m["status"] == "ok"

    def ratio(self):
        if not (self._ok(self.ours) and self._ok(self.baseline)):
            return None
        return ratio(self.ours["time"], self.baseline["time"], self.kind)

    def check_passed(self):
        if self.check is None:
            return None
        _, value, tol = self.check
        return value is not None and value <= tol

    def verdict(self):
        if self.kind == "completes":
            return "pass" if self._ok(self.ours) else "FAIL"
        if self.kind == "info":
            return "info"
        return verdict(self.ratio(), self.target, self.kind)

    @staticmethod
    def fmt_time(m):
        if m is None:
            return "-"
        if m["status"] != "ok":
            return m["status"]
        return f"{m['time']:.3f} s"

    @staticmethod
    def fmt_mem(m):
        if m is None:
            return "-"
        return f"{m['peak_rss_mib'] / 1024:.2f} GiB"

    def fmt_ratio(self):
        return fmt_ratio(self.ratio(), "{:.1f}x speed-up" if self.kind == "speedup"
                         else "{:.2f}x")

    def fmt_check(self):
        if self.check is None:
            return "-"
        desc, value, tol = self.check
        if value is None:
            return f"{desc}: not run (FAIL)"
        mark = "ok" if value <= tol else "FAIL"
        return f"{desc} {value:.1e} <= {tol:.0e}: {mark}"

    def cells(self):
        return [self.benchmark, self.fmt_time(self.ours), self.fmt_time(self.baseline),
                self.fmt_ratio(), self.target_text, self.verdict(),
                self.fmt_mem(self.ours), self.fmt_mem(self.baseline), self.fmt_check()]

    def notes(self):
        """The note, disturbances, repeats and failures of this row's measurements."""
        bits = [self.note] if self.note else []
        for who, m in (("ours", self.ours), ("baseline", self.baseline)):
            if m is None:
                continue
            if (m.get("other_load") or 0.0) > OTHER_LOAD_NOTE:
                bits.append(f"other processes kept {m['other_load']:.2f} cores busy "
                            f"during the {who} run (timing may be inflated)")
            if m.get("attempts", 1) > 1:
                bits.append(f"{who}: best of {m['attempts']} attempts (re-measured "
                            "because other processes were busy)")
            if m.get("times") and len(m["times"]) > 1:
                bits.append(f"{who} repeats: "
                            + ", ".join(f"{t:.3f}" for t in m["times"]) + " s")
            if m.get("log_tail"):
                tail = m["log_tail"].strip().splitlines()[-1:] or [""]
                bits.append(f"{who} {m['status']}; last output: `{tail[0][:200]}`")
        return bits
