"""notebooks/: nbformat-4 notebooks: one real (flax) and others assembled from the Python tutorial."""
from __future__ import annotations

import base64
import hashlib
import json
import random

from samplegen import inputs as inp
from samplegen import rst
from samplegen.defects import Defects
from samplegen.writers import json_line

DOCS = "usr/share/doc/python3.11/html/_sources"
IPYNB_PAGES = ("tutorial/introduction", "tutorial/controlflow", "tutorial/datastructures", "tutorial/modules",
               "tutorial/inputoutput", "tutorial/errors", "tutorial/classes", "tutorial/stdlib", "tutorial/stdlib2",
               "tutorial/floatingpoint", "howto/sorting")
JSONL_PAGES = ("howto/argparse", "howto/ipaddress", "howto/annotations", "howto/sockets", "howto/urllib2",
               "library/bisect", "library/heapq", "library/textwrap", "library/secrets", "library/statistics")
META = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.2", "mimetype": "text/x-python",
                          "file_extension": ".py", "codemirror_mode": {"name": "ipython", "version": 3}}}


def _doctest_cells(text: str) -> list[tuple[str, str]]:
    """Split a >>> block into (source, output) pairs, prompts removed."""
    pairs, src, out = [], [], []
    for line in text.splitlines():
        if line.startswith(">>>"):
            if src and out:
                pairs.append(("\n".join(src), "\n".join(out)))
                src, out = [], []
            src.append(line[4:])
        elif line.startswith("...") and src and not out:
            src.append(line[4:])
        else:
            out.append(line)
    if src:
        pairs.append(("\n".join(src), "\n".join(out)))
    return pairs


def _cell_id(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:8]


def notebook(page_rst: str, name: str) -> dict:
    cells, count = [], 0
    for title, body in rst.sections(page_rst):
        md = [f"## {title}"] if title else []
        for kind, text in rst.blocks(body):
            if kind == "prose":
                md.append(text)
                continue
            if md:
                cells.append({"cell_type": "markdown", "id": _cell_id(name, len(cells)), "metadata": {},
                              "source": "\n\n".join(md)})
                md = []
            pairs = _doctest_cells(text) if kind == "doctest" else [(text, "")]
            for src, out in pairs:
                count += 1
                outputs = []
                if out.strip():
                    if "print(" in src:
                        outputs.append({"name": "stdout", "output_type": "stream", "text": out + "\n"})
                    else:
                        outputs.append({"data": {"text/plain": out}, "execution_count": count, "metadata": {},
                                        "output_type": "execute_result"})
                cells.append({"cell_type": "code", "execution_count": count, "id": _cell_id(name, len(cells)),
                              "metadata": {}, "outputs": outputs, "source": src})
        if md:
            cells.append({"cell_type": "markdown", "id": _cell_id(name, len(cells)), "metadata": {},
                          "source": "\n\n".join(md)})
    return {"cells": cells, "metadata": META, "nbformat": 4, "nbformat_minor": 5}


def _dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    rng = random.Random(f"{seed}/notebooks")
    root = ins.root("python3.11-doc") / DOCS
    out: dict[str, bytes] = {}
    ins.site("flax")
    real = inp.SITE / "flax/core/flax_functional_engine.ipynb"
    out["notebooks/flax_functional_engine.ipynb"] = real.read_bytes()
    texts = {}
    for page in IPYNB_PAGES:
        name = f"notebooks/{page.replace('/', '_')}.ipynb"
        nb = notebook((root / f"{page}.rst.txt").read_text(encoding="utf-8"), page)
        if page == "tutorial/stdlib2":
            # A plot-like rich output: a real PNG (matplotlib's bundled icon, PSF-based licence) as base64.
            ins.site("matplotlib")
            png = (inp.SITE / "matplotlib/mpl-data/images/matplotlib_large.png").read_bytes()
            nb["cells"].append({"cell_type": "code", "execution_count": 99, "id": _cell_id(page, "png"),
                                "metadata": {}, "source": "from IPython.display import Image\nImage('logo.png')",
                                "outputs": [{"data": {"image/png": base64.b64encode(png).decode(),
                                                      "text/plain": "<IPython.core.display.Image object>"},
                                             "metadata": {}, "output_type": "display_data"}]})
            defects.add("notebooks_binary_output", family="notebooks", file=name, path=name)
        texts[name] = _dumps(nb)
        out[name] = texts[name].encode()
    broken = "notebooks/tutorial_truncated.ipynb"
    out[broken] = texts["notebooks/tutorial_errors.ipynb"].encode()[:1500]
    defects.add("notebooks_invalid_json", family="notebooks", file=broken, path=broken)
    rows = []
    for page in JSONL_PAGES:
        nb = notebook((root / f"{page}.rst.txt").read_text(encoding="utf-8"), page)
        rows.append({"path": f"notebooks/{page.split('/')[1]}.ipynb", "repo_name": "python/cpython",
                     "license": "psf-2.0", "content": _dumps(nb)})
    dup_src = "notebooks/howto_sorting.ipynb"
    rows.insert(rng.randrange(len(rows)), {"path": "examples/sorting_howto.ipynb", "repo_name": "python/cpython",
                                           "license": "psf-2.0", "content": texts[dup_src]})
    jl = "notebooks/notebooks-00000.jsonl"
    for line, row in enumerate(rows, 1):
        if row["path"] == "examples/sorting_howto.ipynb":
            defects.add("notebooks_exact_duplicate", family="notebooks", file=jl, line=line, of=dup_src)
    out[jl] = b"".join(json_line(r) for r in rows)
    return out
