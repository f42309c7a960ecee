"""Terrain stage: slope, aspect, northness and eastness by Horn's (1981) method.

- :mod:`pfatlas.terrain.horn`: numba kernels on haloed arrays (metres, no I/O, no xarray);
- :mod:`pfatlas.terrain.attributes`: the functions on ``xarray`` DEMs (numpy or dask);
- :mod:`pfatlas.terrain.dem_file`: slope and aspect COGs of a whole DEM file.

Results agree with ``gdaldem slope`` / ``gdaldem aspect`` (``-alg Horn``, no ``-compute_edges``)
to float32 round-off; flat cells get a NaN aspect where gdaldem writes -9999.
"""

from pfatlas.terrain.attributes import aspect, eastness, northness, slope, terrain_attributes
from pfatlas.terrain.dem_file import terrain_for_file

__all__ = ["slope", "aspect", "northness", "eastness", "terrain_attributes", "terrain_for_file"]
