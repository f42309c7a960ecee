"""The commented configuration template printed by ``pfatlas template-config``."""

from importlib.resources import files

__all__ = ["template_config"]


def template_config() -> str:
    """The commented TOML template, with every key at its default."""
    return files("pfatlas").joinpath("templates/config.toml").read_text(encoding="utf-8")
