"""CRC32C (google-crc32c, what manifests record) vs SHA-256 (hashlib) over the same bytes, side by side.

Why the manifest checksum is CRC32C (tokens/checksums.py): the check guards against accidents, not an
attacker (the manifest is unsigned), so the faster one wins if it is clearly faster. Also measured: what
`tokens.paths.publish` adds to a shard write by reading the fresh temporary back for its CRC32C.
Appends a section to benchmarks/RESULTS.md unless --no-record.

    python -m benchmarks.checksums [--mib 256] [--no-record]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile

from benchmarks import results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="buffer size in MiB (default 256, a large shard)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    import google_crc32c

    from tokens import checksums, paths

    data = os.urandom(args.mib << 20)
    crc = results.best_seconds(lambda: google_crc32c.Checksum(data).digest())
    sha = results.best_seconds(lambda: hashlib.sha256(data).digest())
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "part-00000-of-00001.array_record")

        def write_plain():   # what publishing cost before checksums: write, fsync, rename
            with open(target + ".plain", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(target + ".plain", target)

        plain = results.best_seconds(write_plain)
        published = results.best_seconds(lambda: paths.write_atomic(target, data))   # + fsync + CRC32C read-back
        assert checksums.of_file(target).crc32c == checksums.of_bytes(data).crc32c
    mib = args.mib
    rows = [("CRC32C (google-crc32c, C)", crc), ("SHA-256 (hashlib)", sha)]
    lines = [f"## Manifest checksums: CRC32C vs SHA-256 (benchmarks/checksums.py) — {results.today()}", "",
             f"`python -m benchmarks.checksums --mib {mib}`; {results.machine()}; {results.load_avg()}. "
             "Best of 3 over the same random buffer.", "",
             "| checksum | MiB/s | vs SHA-256 |", "|---|---:|---:|"]
    lines += [f"| {name} | {mib / s:,.0f} | {sha / s:.2f}x |" for name, s in rows]
    lines += ["", f"Publishing a {mib} MiB shard: write + fsync + rename {plain:.2f} s; `paths.write_atomic`, which "
              f"also reads the temporary back for its CRC32C, {published:.2f} s ({published / plain:.2f}x)."]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        results.append_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
