"""Run a command as a child process and measure its whole process tree: wall, CPU seconds, peak RSS.

CPU is the larger of getrusage(RUSAGE_CHILDREN) (descendants that were waited for) and the sum of
the last psutil reading of every process seen in the tree, polled every 0.1 s: pool workers that
are terminated rather than waited for (datatrove's, Beam's multi_processing workers) are only
counted the second way. A process living under 0.1 s may be missed by the poll (small undercount).
"""
from __future__ import annotations

import resource
import subprocess
import time


def run_measured(cmd: list[str], cwd: str | None = None, env: dict | None = None,
                 max_rss_bytes: int | None = None, log: str | None = None) -> dict:
    """{"wall_s", "cpu_s", "peak_rss_bytes" (largest process), "tree_rss_bytes", "stdout"}; raises on failure.

    `max_rss_bytes`: a watchdog kills the tree once one process passes it (RuntimeError says so).
    `log`: stdout and stderr go to this file instead of pipes (long runs: a full pipe would block the
    child); "stdout" is then the file's last 64 KiB."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    sink = open(log, "w") if log else None
    proc = psutil.Popen(cmd, cwd=cwd, env=env, stdout=sink or subprocess.PIPE,
                        stderr=subprocess.STDOUT if sink else subprocess.PIPE, text=True)
    killed = None
    seen: dict[int, float] = {}
    rss: dict[int, int] = {}
    while proc.poll() is None:
        try:
            tree = [proc] + proc.children(recursive=True)
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                t = p.cpu_times()
                seen[p.pid] = t.user + t.system
                rss[p.pid] = max(rss.get(p.pid, 0), p.memory_info().rss)
            except psutil.Error:
                pass
        if max_rss_bytes and killed is None and max(rss.values(), default=0) > max_rss_bytes:
            killed = max(rss.values())
            for p in reversed(tree):
                try:
                    p.kill()
                except psutil.Error:
                    pass
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    if sink:
        sink.close()
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 65536))
            stdout = stderr = f.read().decode("utf-8", "replace")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if killed is not None:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... killed by the watchdog at {killed / 2**30:.2f} GiB RSS "
                           f"(limit {max_rss_bytes / 2**30:.2f} GiB) after {wall:.0f} s")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{stderr[-4000:]}")
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": max(waited, sum(seen.values())),
            # ru_maxrss of RUSAGE_CHILDREN is a max over every child ever waited for: it speaks for this
            # command only if it grew during it (else an earlier, larger run would be reported again).
            "peak_rss_bytes": max([after.ru_maxrss * 1024 if after.ru_maxrss > before.ru_maxrss else 0,
                                   *rss.values()]),
            "tree_rss_bytes": sum(rss.values()), "stdout": stdout}
