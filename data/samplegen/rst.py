"""Just enough reStructuredText handling to turn the Python docs into plain prose blocks."""
from __future__ import annotations

import re

_HEADING = re.compile(r"^([=\-~^*#+\"'`])\1{2,}\s*$")
_ROLE = re.compile(r":[\w:.-]+:`(?:([^`<]*?)\s*<[^`>]*>|~?!?([^`]*))`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]+>`__?")
_LITERAL = re.compile(r"``([^`]+)``")
_EMPH = re.compile(r"(\*\*|\*)(\S(?:.*?\S)?)\1")
_REF = re.compile(r"`([^`]+)`_+")


def inline(text: str) -> str:
    """Strip inline roles, links and emphasis, keeping their visible text."""
    text = _ROLE.sub(lambda m: (m.group(1) or m.group(2) or "").lstrip(".~"), text)
    text = _LINK.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _REF.sub(r"\1", text)
    text = _EMPH.sub(r"\2", text)
    return text.replace("\\", "")


def sections(rst: str) -> list[tuple[str, str]]:
    """[(title, body)] split at underlined headings; directive-only noise removed."""
    lines = rst.splitlines()
    out: list[tuple[str, list[str]]] = [("", [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _HEADING.match(line) and i + 2 < len(lines) and _HEADING.match(lines[i + 2]) and lines[i + 1].strip():
            out.append((inline(lines[i + 1].strip()), []))
            i += 3
            continue
        if line.strip() and _HEADING.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            out.append((inline(line.strip()), []))
            i += 2
            continue
        out[-1][1].append(line)
        i += 1
    return [(t, "\n".join(b)) for t, b in out]


def blocks(body: str) -> list[tuple[str, str]]:
    """[(kind, text)], kind in {"prose", "code", "doctest"}; directives and their options dropped,
    the content of admonitions (note, warning, versionchanged...) kept as prose."""
    out: list[tuple[str, str]] = []
    paras = re.split(r"\n\s*\n", body)
    expect_code = False
    for para in paras:
        if not para.strip():
            continue
        stripped = para.strip("\n")
        first = stripped.lstrip()
        indented = stripped.startswith((" ", "\t"))
        if first.startswith(">>>"):
            out.append(("doctest", _dedent(stripped)))
            expect_code = False
            continue
        if first.startswith(".. "):
            m = re.match(r"\.\.\s+([\w-]+)::\s*(.*)", first)
            directive = m.group(1) if m else ""
            expect_code = directive in ("code-block", "code", "sourcecode", "literalinclude") or False
            rest = [ln for ln in stripped.splitlines()[1:] if not ln.strip().startswith(":")]
            if directive in ("note", "warning", "versionchanged", "versionadded", "deprecated", "seealso",
                             "important", "tip", "impl-detail") and rest:
                text = inline(" ".join(ln.strip() for ln in rest)).strip()
                if m.group(2) and directive.startswith("version"):
                    text = f"Changed in version {m.group(2)}: {text}" if text else ""
                if text:
                    out.append(("prose", text))
            elif expect_code and rest:
                out.append(("code", _dedent("\n".join(rest))))
                expect_code = False
            continue
        if indented and (expect_code or (out and out[-1][0] == "code")):
            out.append(("code", _dedent(stripped)))
            expect_code = False
            continue
        if indented and not expect_code:
            text = inline(" ".join(ln.strip() for ln in stripped.splitlines()))
            out.append(("prose", text))
            continue
        text = inline(" ".join(ln.strip() for ln in stripped.splitlines()))
        expect_code = text.endswith("::")
        if expect_code:
            text = text[:-1] if not text.endswith(" ::") else text[:-3]
        if text.strip() not in ("", ":") and not text.startswith("|"):
            out.append(("prose", text.strip()))
    return out


def _dedent(text: str) -> str:
    lines = text.splitlines()
    pad = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
    return "\n".join(ln[pad:] for ln in lines)


def to_text(rst: str) -> str:
    """Whole document as plain text: headings as lines, prose paragraphs, code blocks indented."""
    parts = []
    for title, body in sections(rst):
        if title:
            parts.append(title)
        for kind, text in blocks(body):
            parts.append(text if kind == "prose" else "\n".join("    " + ln for ln in text.splitlines()))
    return "\n\n".join(p for p in parts if p.strip())
