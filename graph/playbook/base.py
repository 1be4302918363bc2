"""The pydantic base every playbook section derives from: frozen, unknown keys refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
"""An id the owner picks (question, step, FAQ): lower-case letters, digits and ``_``, usable as a placeholder."""


class Model(BaseModel):
    """A playbook section: immutable once loaded, and a misspelt key is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
