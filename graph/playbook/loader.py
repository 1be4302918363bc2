"""Reading a playbook file: YAML 1.2 in, a validated :class:`Playbook` or one :class:`PlaybookError` out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from graph.playbook.errors import PlaybookError
from graph.playbook.root import Playbook


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 (PyYAML's default) reads ``yes``/``no``/``on``/``off`` as booleans, which
    would turn the playbook's ``yes:``/``no:`` keys into True/False.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_playbook(path: str | Path) -> Playbook:
    """Read and validate the playbook at ``path`` (UTF-8 YAML 1.2).

    Raises:
        PlaybookError: unreadable file, invalid YAML, or a schema violation; the message
            names the file, the dotted field path and the reason of each problem.
    """
    return read_playbook(path)[0]


def read_playbook(path: str | Path) -> tuple[Playbook, dict[str, Any]]:
    """The playbook at ``path``, validated, and the document it was read from (kept as a playbook version).

    Raises:
        PlaybookError: as :func:`load_playbook`.
    """
    path = Path(path)
    raw = _read_yaml(path)
    try:
        return Playbook.model_validate(raw), raw
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                    for err in exc.errors()]
        raise PlaybookError("invalid playbook\n" + "\n".join(problems)) from None


def _read_yaml(path: Path) -> dict[Any, Any]:
    """The file's top-level mapping. Raises PlaybookError for an unreadable file, bad YAML or another shape."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise PlaybookError(f"{path}: cannot read playbook: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PlaybookError(f"{path}: the playbook must be a mapping at the top level")
    return raw
