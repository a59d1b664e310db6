"""instruct/: instruction rows in the three accepted schemas, from real docstrings.

Docstrings are read with `ast` (nothing is imported) from permissively licensed
site-packages modules; the question is templated, the answer is the docstring text.
"""
from __future__ import annotations

import ast
import random
import re

from samplegen import inputs as inp
from samplegen.defects import Defects
from samplegen.writers import jsonl_bytes

MODULES = (("numpy", "numpy/_core/fromnumeric.py"), ("numpy", "numpy/_core/numeric.py"),
           ("numpy", "numpy/lib/_function_base_impl.py"), ("numpy", "numpy/linalg/_linalg.py"),
           ("numpy", "numpy/lib/_shape_base_impl.py"), ("optax", "optax/_src/alias.py"),
           ("optax", "optax/_src/transform.py"), ("datasketch", "datasketch/minhash.py"),
           ("more_itertools", "more_itertools/more.py"), ("apache_beam", "apache_beam/transforms/core.py"))


def _sections(doc: str) -> dict[str, str]:
    """numpydoc / Google-style sections keyed by lower-case header; '' is the summary part."""
    out, key, buf = {}, "", []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.fullmatch(r"\s*-{3,}\s*", nxt) and line.strip():
            out[key] = "\n".join(buf).strip()
            key, buf = line.strip().lower(), []
            i += 2
            continue
        m = re.fullmatch(r"\s*(Args|Arguments|Returns|Raises|Examples?|Example usage):\s*", line)
        if m:
            out[key] = "\n".join(buf).strip()
            key, buf = m.group(1).lower().replace("args", "parameters").replace("arguments", "parameters"), []
            i += 1
            continue
        buf.append(line)
        i += 1
    out[key] = "\n".join(buf).strip()
    return out


def _functions(package: str, rel: str) -> list[tuple[str, str, str]]:
    tree = ast.parse((inp.SITE / rel).read_text(encoding="utf-8"))
    module = rel[:-3].replace("/", ".").replace("._src", "").replace("._core", "").replace("_impl", "")
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 300:
                out.append((f"{module.rsplit('.', 1)[0]}.{node.name}" if module.count(".") > 1 else
                            f"{package}.{node.name}", doc, ast.unparse(node.args) if hasattr(node, "args") else ""))
    return out


def build(ins: inp.Inputs, defects: Defects, seed: int) -> dict[str, bytes]:
    rng = random.Random(f"{seed}/instruct")
    items = []
    for package, rel in MODULES:
        ins.site(package)
        items.extend(_functions(package, rel))
    rng.shuffle(items)
    chat, pr, dolly = [], [], []
    for i, (name, doc, _args) in enumerate(items[:420]):
        sec = _sections(doc)
        summary = sec.get("", "").split("\n\n")[0].strip()
        if len(summary) < 20:
            continue
        kind = i % 3
        if kind == 0:
            q = rng.choice(["What does `{n}` do?", "Explain `{n}` briefly.", "Can you describe `{n}`?",
                            "I'm reading some code that calls `{n}`. What is it for?"]).format(n=name)
            answer = sec.get("", "").strip()
            chat.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]})
        elif kind == 1:
            if sec.get("parameters"):
                q = f"List and explain the parameters of `{name}`."
                pr.append({"prompt": q, "response": sec["parameters"]})
            else:
                pr.append({"prompt": f"Summarize the documentation of `{name}` in one paragraph.",
                           "response": summary})
        else:
            if sec.get("returns"):
                dolly.append({"instruction": f"According to the documentation, what does `{name}` return?",
                              "context": doc, "response": sec["returns"], "category": "closed_qa"})
            else:
                dolly.append({"instruction": f"Summarize what `{name}` does.", "context": doc,
                              "response": summary, "category": "summarization"})
    dup = chat[4]
    chat.append(dup)
    defects.add("instruct_exact_duplicate", family="instruct", file="instruct/chat-00000.jsonl", line=len(chat),
                of="instruct/chat-00000.jsonl:5")
    return {"instruct/chat-00000.jsonl": jsonl_bytes(chat), "instruct/prompt_response-00000.jsonl": jsonl_bytes(pr),
            "instruct/dolly-00000.jsonl": jsonl_bytes(dolly)}
