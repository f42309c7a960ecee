"""Read a TOML file into a pydantic model, with one clear error naming the file and the key.

Shared by the run configuration (:func:`pfatlas.config.load_config`) and the site scenarios of
``pfatlas simulate`` (:func:`pfatlas.thermal.scenario.load_scenario`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from pfatlas.errors import ConfigError, MissingInputError

__all__ = ["KeyedError", "format_loc", "load_toml_model"]

M = TypeVar("M", bound=BaseModel)


class KeyedError(ValueError):
    """A cross-field problem found by a model validator, with the (relative) key it is about."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def format_loc(loc) -> str:
    """A pydantic error location as a TOML key path, e.g. ``epochs[0].year``."""
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def load_toml_model(path: str | Path, model: type[M], *, what: str, template_command: str) -> M:
    """Parse ``path`` and validate it as ``model``.

    Parameters
    ----------
    path
        The TOML file.
    model
        The pydantic model (``extra="forbid"`` so that a typo is an error).
    what
        What the file is, for the messages ("config file", "scenario file").
    template_command
        The command that prints the commented template (named in the unknown-key message).

    Raises
    ------
    MissingInputError
        The file does not exist.
    ConfigError
        Not TOML, not UTF-8, or a value is invalid: the first problem, with its key, and how many
        more there are.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} does not exist", path=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a UTF-8 text file: {exc}", path=path) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        key = format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, KeyedError):
            key = ".".join(k for k in (key, cause.key) if k)
        if err["type"] == "extra_forbidden":
            msg = f"unknown key (check the spelling; `{template_command}` lists the keys)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{msg}{more}", path=path, field=key) from None
