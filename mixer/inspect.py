"""`mixer inspect`: the resolved table, a shard check against the manifests, a composition plot."""
from __future__ import annotations

import json
import posixpath

from mixer import mixture as mixture_lib
from mixer.budget import format_tokens
from tokens import paths
from tokens.manifest import reject_json_constant


def load_stages(path: str, check_shards: bool = False) -> list[tuple[str, dict]]:
    """[(stage name, mixture)] for a mixture.json (one stage) or a recipe.json (its stages in order)."""
    with paths.open_read(path) as f:
        body = json.loads(f.read().decode("utf-8"), parse_constant=reject_json_constant)
    if isinstance(body, dict) and "stages" in body and "sources" not in body:
        base = paths.dirname(path)
        return [(stage["name"], mixture_lib.load_mixture(paths.join(base, stage["mixture"]) if base
                                                         else stage["mixture"], check_shards=check_shards))
                for stage in body["stages"]]
    return [(body.get("stage", "stage") if isinstance(body, dict) else "stage",
             mixture_lib.validate_mixture(body, path, check_shards=check_shards))]


def format_table(mixture: dict) -> str:
    """Source, share %, target tokens, available tokens, epochs; then the totals and any warnings."""
    rows = [("source", "share %", "target", "available", "documents", "epochs")]
    for name, e in sorted(mixture["sources"].items(), key=lambda kv: (-kv[1]["weight"], kv[0])):
        rows.append((name, f"{e['weight'] * 100:.2f}", format_tokens(e["target_tokens"]),
                     format_tokens(e["available_tokens"]), f"{e['documents']:,}", f"{e['epochs']:.3f}"))
    rows.append(("total", f"{sum(e['weight'] for e in mixture['sources'].values()) * 100:.2f}",
                 format_tokens(mixture["total_tokens"]),
                 format_tokens(sum(e["available_tokens"] for e in mixture["sources"].values())),
                 f"{sum(e['documents'] for e in mixture['sources'].values()):,}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{mixture['name']}  stage={mixture['stage']}  init_from={mixture.get('init_from')}  "
             f"schedule={mixture['schedule'].get('kind')}  tokens={format_tokens(mixture['total_tokens'])}  "
             f"seq_len={mixture['seq_len']}  seed={mixture['seed']}"]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"WARNING: {w}" for w in mixture.get("warnings", [])]
    return "\n".join(lines)


def check_mixture(mixture: dict, verify_tokens: bool = False) -> list[str]:
    """Problems found comparing the mixture with each source's manifest and shards ([] = all good).

    The manifest must still match the fingerprint the mixture recorded (a re-tokenized source is
    reported with what changed). Record counts come from tokens.source.TokenizedSource (it opens every
    shard and compares its record count and size with the manifest); every shard and sidecar is read
    whole against its CRC32C; verify_tokens also decodes every record.
    """
    from tokens.manifest import ManifestError, fingerprint, fingerprint_changes, load_manifest
    from tokens.records import CorruptRecordError
    from tokens.source import TokenizedSource

    from mixer.mixture import budget_problems

    problems = budget_problems(mixture)
    for name, entry in sorted(mixture["sources"].items()):
        try:
            manifest = load_manifest(entry["manifest"])
        except ManifestError as e:
            problems.append(f"{name}: {e}")
            continue
        if manifest.vocab_size != mixture["vocab_size"]:
            problems.append(f"{name}: the manifest's tokenizer has {manifest.vocab_size} tokens, the mixture says "
                            f"vocab_size {mixture['vocab_size']}: token ids would fall outside the model's "
                            "embedding table")
        if "fingerprint" in entry:
            changes = fingerprint_changes(entry["fingerprint"], fingerprint(manifest),
                                          [s.path for s in manifest.shards])
            if changes:
                problems.append(stale_message(mixture, name, entry["manifest"], changes))
        if manifest.shard_paths != entry["shards"]:
            problems.append(f"{name}: the manifest's shard list differs from the mixture's "
                            f"({len(manifest.shard_paths)} vs {len(entry['shards'])} shards)")
        for key, have in (("documents", manifest.documents), ("available_tokens", manifest.tokens)):
            if have != entry[key]:
                problems.append(f"{name}: {key} is {have} in the manifest, {entry[key]} in the mixture")
        if manifest.tokenizer_sha256 != mixture["tokenizer_sha256"]:
            problems.append(f"{name}: tokenizer sha256 {manifest.tokenizer_sha256[:12]} differs from the "
                            f"mixture's {mixture['tokenizer_sha256'][:12]}")
        try:
            with TokenizedSource.open(entry["manifest"], verify=True) as source:
                source.verify_checksums()
                if verify_tokens:
                    source.verify_tokens()
        except (ManifestError, CorruptRecordError) as e:
            problems.append(f"{name}: {e}")
    return problems


def stale_message(mixture: dict, name: str, manifest_path: str, changes: list[str]) -> str:
    """Why a mixture no longer describes its data, and the command that rebuilds it."""
    return (f"{name}: {manifest_path} changed since mixture {mixture.get('name')!r} was built ("
            + "; ".join(changes) + "): it would train on different data than it says. Rebuild the mixture: "
            + (mixture.get("command") or "python -m mixer build ..."))


def unverifiable(mixture: dict) -> list[str]:
    """Sources the mixture cannot vouch for: built before fingerprints were recorded."""
    return sorted(name for name, entry in mixture["sources"].items() if "fingerprint" not in entry)


def plot_stages(stages: list[tuple[str, dict]], out_path: str, title: str = "") -> str:
    """Stacked bars of token shares per stage (each bar is 100% of its stage), x labels give the budgets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({s for _, m in stages for s in m["sources"]})
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    # At least 6 in wide: a one-stage chart was narrower than its title, which got cut at both ends.
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 + 1.6 * len(stages)), 4.8))
    for x, (stage, m) in enumerate(stages):
        bottom = 0.0
        for n in names:
            share = m["sources"].get(n, {}).get("weight", 0.0) * 100
            if share <= 0:
                continue
            ax.bar(x, share, bottom=bottom, color=colours[n], width=0.6, edgecolor="white",
                   label=(f"{n} ({share:.1f}%)" if len(stages) == 1 else n)   # small slices carry no text
                   if x == [i for i, (_, mm) in enumerate(stages) if n in mm["sources"]][0] else None)
            if share >= 4:
                ax.text(x, bottom + share / 2, f"{n}\n{share:.1f}%", ha="center", va="center", fontsize=8)
            bottom += share
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels([f"{stage}\n{format_tokens(m['total_tokens'])} tokens" for stage, m in stages])
    ax.set_ylabel("share of the stage's tokens (%)")
    ax.set_ylim(0, 100)
    if not title:
        first_name, first_stage = stages[0][1]["name"], stages[0][0]
        title = first_name[: -len(first_stage) - 1] if len(stages) > 1 and first_name.endswith(
            "-" + first_stage) else first_name
    ax.set_title(f"{title}: token shares per stage")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    parent = posixpath.dirname(out_path)
    if parent:
        import os

        os.makedirs(parent, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path
