"""The playbook's exceptions.

The tree::

    ValueError
     └── PlaybookError  the file can't be read, isn't YAML, isn't a mapping, or breaks the schema

Inside the models, validators raise plain ``ValueError`` (pydantic collects them with the field
path); :func:`graph.playbook.load_playbook` turns those into one :class:`PlaybookError`.
:func:`graph.playbook.to_e164` raises plain ``ValueError``: it checks a number, not a playbook.
"""

from __future__ import annotations


class PlaybookError(ValueError):
    """The playbook file is missing, not YAML, or breaks the schema; ``str()`` names file, field and reason.

    Raised by :func:`graph.playbook.load_playbook`; start-up stops on it with that message.
    """
