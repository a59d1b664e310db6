"""Field mapping: read an export whose columns are named differently, without code changes.

datatrove's readers take `text_key` / `id_key`; here any field a reader uses can be mapped, per
family, with `--field FAMILY.NAME=COLUMN` (repeatable) or a YAML file (`--fields FILE`):

    stack:
      content: code          # The Stack reader's `content` is this export's `code` column
      lang: language_name
    synthetic:
      id: task_id

NAME is one of the reader's FIELDS (checked, with the list in the error); COLUMN is the key in the
export's JSON records or the Parquet column name. A mapped field is read only from its column.
Stack Exchange dumps have one fixed schema and take no mapping.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping


class FieldMapError(ValueError):
    """A mapping that cannot apply; the message names the flag value and what is allowed."""


@dataclasses.dataclass(frozen=True)
class FieldMap:
    """(family, reader field, export column) triples, sorted; empty = every reader's own names."""
    entries: tuple[tuple[str, str, str], ...] = ()

    def for_family(self, family: str) -> dict[str, str]:
        """Reader field -> export column for one family ({} when none is mapped)."""
        return {name: column for fam, name, column in self.entries if fam == family}

    def as_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for family, name, column in self.entries:
            out.setdefault(family, {})[name] = column
        return out


def _check(family: str, name: str, column: str, where: str) -> tuple[str, str, str]:
    from pipelines.sources import FAMILIES
    if family not in FAMILIES:
        raise FieldMapError(f"{where}: unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    known = getattr(FAMILIES[family].reader, "FIELDS", None)
    if not known:
        raise FieldMapError(f"{where}: the {family} reader takes no field mapping (fixed dump schema)")
    if name not in known:
        raise FieldMapError(f"{where}: {family} has no field {name!r}; fields: {', '.join(known)}")
    if not isinstance(column, str) or not column.strip():
        raise FieldMapError(f"{where}: empty column name for {family}.{name}")
    return family, name, column.strip()


def parse_field(spec: str) -> tuple[str, str, str]:
    """'stack.content=code' -> ('stack', 'content', 'code'); raises FieldMapError with the reason."""
    target, sep, column = spec.partition("=")
    family, dot, name = target.strip().partition(".")
    if not sep or not dot or not family or not name:
        raise FieldMapError(f"--field {spec!r}: expected FAMILY.NAME=COLUMN, e.g. stack.content=code")
    return _check(family, name.strip(), column, f"--field {spec!r}")


def load_yaml(text: str, where: str = "--fields") -> list[tuple[str, str, str]]:
    """Triples from a YAML mapping {family: {name: column}}."""
    import yaml
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise FieldMapError(f"{where}: not valid YAML: {e}") from e
    if data is None:
        return []
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise FieldMapError(f"{where}: expected a mapping of family -> {{field: column}}")
    return [_check(str(family), str(name), column, f"{where} {family}.{name}")
            for family, names in data.items() for name, column in names.items()]


def build(specs: Iterable[str] = (), yaml_path: str | None = None) -> FieldMap:
    """The FieldMap of a run: the YAML file first, then each --field (a later one overrides)."""
    entries: dict[tuple[str, str], str] = {}
    if yaml_path:
        from tokens import paths
        with paths.open_read(yaml_path) as f:
            for family, name, column in load_yaml(f.read().decode("utf-8"), f"--fields {yaml_path}"):
                entries[(family, name)] = column
    for spec in specs:
        family, name, column = parse_field(spec)
        entries[(family, name)] = column
    return FieldMap(tuple(sorted((f, n, c) for (f, n), c in entries.items())))


def from_dict(mapping: Mapping[str, Mapping[str, str]]) -> FieldMap:
    """FieldMap from {family: {name: column}} (tests, programmatic use), checked like the flags."""
    return FieldMap(tuple(sorted(_check(f, n, c, f"{f}.{n}") for f, names in mapping.items()
                                 for n, c in names.items())))
