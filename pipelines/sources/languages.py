"""Which Stack languages become `code`, which become `markup`, and which licences count as permissive.

The paper keeps "the top 25 languages by document count" of The Stack (docs/paper.md, "Sources and sizes": stated) but
does not list them (?). CODE_LANGUAGES is our reading of the per-language file counts in
the bigcode/the-stack-dedup (v1.2) dataset card: the 25 largest *programming* languages,
after setting aside markup and data formats (Markdown, HTML, CSS go to `markup`; JSON,
YAML, XML, Text, ... are not code). The order is approximate; membership is what matters.
Spellings are The Stack's `lang` values.
"""
from __future__ import annotations

CODE_LANGUAGES: tuple[str, ...] = (
    "JavaScript", "Java", "C", "PHP", "Python", "C++", "C#", "TypeScript", "Go", "Ruby",
    "Shell", "Rust", "Kotlin", "Swift", "Scala", "SQL", "Lua", "Perl", "Dart", "R",
    "Objective-C", "PowerShell", "Haskell", "Visual Basic", "Assembly",
)

MARKUP_LANGUAGES: tuple[str, ...] = ("Markdown", "HTML", "CSS")

# SPDX ids of the permissive licences The Stack admits (its license-detection allow list,
# without the weak-copyleft MPL/EPL/LGPL removed in v1.1). Compared case-insensitively.
PERMISSIVE_LICENSES: tuple[str, ...] = (
    "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear",
    "BSD-4-Clause", "0BSD", "ISC", "Unlicense", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0",
    "Zlib", "BSL-1.0", "Artistic-2.0", "PostgreSQL", "Python-2.0", "PSF-2.0", "WTFPL",
    "X11", "NCSA", "AFL-3.0", "ECL-2.0", "MS-PL", "UPL-1.0", "OFL-1.1", "MulanPSL-2.0",
    "Unicode-DFS-2016", "JSON", "Beerware", "curl", "libpng-2.0", "BlueOak-1.0.0",
)

# Common alternative spellings seen in other code datasets (CommitPack, GitHub linguist).
_ALIASES = {
    "js": "JavaScript", "node": "JavaScript", "cpp": "C++", "c plus plus": "C++",
    "cxx": "C++", "csharp": "C#", "c-sharp": "C#", "cs": "C#", "ts": "TypeScript",
    "golang": "Go", "py": "Python", "python3": "Python", "rb": "Ruby", "sh": "Shell",
    "bash": "Shell", "zsh": "Shell", "rs": "Rust", "kt": "Kotlin", "objc": "Objective-C",
    "objective c": "Objective-C", "obj-c": "Objective-C", "ps1": "PowerShell",
    "hs": "Haskell", "vb": "Visual Basic", "vb.net": "Visual Basic", "visual basic .net": "Visual Basic",
    "asm": "Assembly", "md": "Markdown", "htm": "HTML", "plpgsql": "SQL", "tsql": "SQL",
}

_CANON = {name.lower(): name for name in CODE_LANGUAGES + MARKUP_LANGUAGES}
_CANON.update({k: v for k, v in _ALIASES.items()})
_CODE = frozenset(CODE_LANGUAGES)
_MARKUP = frozenset(MARKUP_LANGUAGES)
_PERMISSIVE = frozenset(lic.lower() for lic in PERMISSIVE_LICENSES)


def canonical(lang: str | None) -> str | None:
    """The Stack spelling of `lang` ("cpp" -> "C++"), or None when it is not a selected language."""
    if not lang:
        return None
    return _CANON.get(lang.strip().lower())


def route(lang: str | None) -> str | None:
    """"code" | "markup" | None (not selected) for a language name, case-insensitively."""
    name = canonical(lang)
    if name in _CODE:
        return "code"
    if name in _MARKUP:
        return "markup"
    return None


def is_permissive(license_id: str | None) -> bool:
    return bool(license_id) and license_id.strip().lower() in _PERMISSIVE
