"""pfatlas: a 30 m atlas of permafrost and its change in alpine mining areas."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pfatlas")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

#: The label every file, table and plate of the synthetic demo carries.
SYNTHETIC_LABEL = "synthetic (pfatlas virtual Muli)"

__all__ = ["__version__", "SYNTHETIC_LABEL"]
