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


class OverLimit(RuntimeError):
    """The process tree passed `max_rss_bytes` and was killed."""


def run_measured(cmd: list[str], cwd: str | None = None, env: dict | None = None,
                 max_rss_bytes: int | None = None) -> dict:
    """{"wall_s", "cpu_s", "peak_rss_bytes" (largest process), "tree_rss_bytes", "stdout"}; raises on failure,
    and OverLimit after killing the tree when its summed RSS passes `max_rss_bytes` (a shared machine)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, float] = {}
    rss: dict[int, int] = {}
    while proc.poll() is None:
        try:
            tree = [proc] + proc.children(recursive=True)
        except psutil.Error:
            tree = []
        now = 0
        for p in tree:
            try:
                t = p.cpu_times()
                seen[p.pid] = t.user + t.system
                current = p.memory_info().rss
                rss[p.pid] = max(rss.get(p.pid, 0), current)
                now += current
            except psutil.Error:
                pass
        if max_rss_bytes and now > max_rss_bytes:
            for p in reversed(tree):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            proc.communicate()
            raise OverLimit(f"process tree RSS {now / 2**30:.2f} GiB > {max_rss_bytes / 2**30:.2f} GiB "
                            f"after {time.perf_counter() - start:.0f} s")
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{stderr[-4000:]}")
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": max(waited, sum(seen.values())),
            "peak_rss_bytes": max([after.ru_maxrss * 1024, *rss.values()]),
            "tree_rss_bytes": sum(rss.values()), "stdout": stdout}
