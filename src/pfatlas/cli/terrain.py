"""``pfatlas terrain DEM OUTDIR``."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("terrain")
    def terrain_cmd(
        dem: Path = typer.Argument(..., help="A DEM GDAL reads (GeoTIFF, SRTM .hgt), any CRS."),
        outdir: Path = typer.Argument(..., help="Folder for slope.tif and aspect.tif."),
        resolution: float | None = typer.Option(
            None, "--resolution", help="Cell size [m] of the UTM grid a geographic DEM is reprojected to."
        ),
    ) -> None:
        """Slope and aspect (Horn, in metres) of any DEM; a geographic DEM is first reprojected to UTM."""
        from pfatlas.terrain.dem_file import terrain_for_file

        result = terrain_for_file(dem, outdir, resolution=resolution)
        paths = result.values() if isinstance(result, dict) else result
        for p in paths:
            stdout.print(str(p))
