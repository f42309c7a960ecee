#!/usr/bin/env bash
# Exact command sequence that made the committed gdaldem reference rasters of this folder.
# Needs GDAL command-line tools (Debian: gdal-bin; made with GDAL 3.6.2). The tests themselves need
# only the committed files. Run from anywhere: ./make_reference.sh [SRTM_DIR]
set -euo pipefail
SRTM_DIR="${1:-/work/shared/data/srtm}"
cd "$(dirname "$0")"
CO=(-co COMPRESS=DEFLATE -co PREDICTOR=2)
COF=(-co COMPRESS=DEFLATE -co PREDICTOR=3)
rm -f hef_*.tif baltoro_*.tif flat_*.tif

# 1. crop the geographic SRTM clips (int16, EPSG:4326, 3 arc-seconds) to keep the files small
gdal_translate -q -projwin 10.70 46.86 10.85 46.76 "${CO[@]}" "$SRTM_DIR/hef_srtm.tif" hef_srtm_geo.tif
gdal_translate -q -projwin 76.40 35.80 76.52 35.70 "${CO[@]}" "$SRTM_DIR/baltoro_srtm_clip.tif" baltoro_srtm_geo.tif

# 2. reproject each crop to its UTM zone at 90 m, bilinear, target-aligned cells. gdalwarp keeps
#    the source type (Int16): elevations rounded to whole metres, cells outside the footprint get
#    -32768 (nodata).
gdalwarp -q -t_srs EPSG:32632 -tr 90 90 -tap -r bilinear -dstnodata -32768 "${CO[@]}" \
    hef_srtm_geo.tif hef_utm32_90m.tif
gdalwarp -q -t_srs EPSG:32643 -tr 90 90 -tap -r bilinear -dstnodata -32768 "${CO[@]}" \
    baltoro_srtm_geo.tif baltoro_utm43_90m.tif
#    and the same warp written as Float32 (non-integer elevations, as pfatlas reads DEMs)
gdalwarp -q -t_srs EPSG:32632 -tr 90 90 -tap -r bilinear -dstnodata -32768 -ot Float32 "${COF[@]}" \
    hef_srtm_geo.tif hef_utm32_90m_f32.tif

# 3. gdaldem slope (degrees) and aspect (azimuth; -9999 on flat cells and nodata), Horn, no
#    -compute_edges (the outer ring is nodata), float32 GeoTIFF, deflate
for dem in hef_utm32_90m baltoro_utm43_90m hef_utm32_90m_f32; do
    gdaldem slope -q -alg Horn "${COF[@]}" "$dem.tif" "${dem}_slope_gdaldem.tif"
    gdaldem aspect -q -alg Horn "${COF[@]}" "$dem.tif" "${dem}_aspect_gdaldem.tif"
done

# 4. a tiny synthetic DEM (whole metres, UTM 47N, 30 m): a flat plateau (rows 0-5, cols 0-5), an
#    east-facing ramp (cols 6-11), a south-facing ramp (rows 6-9) and one nodata cell (row 2, col 9),
#    to pin down flat-cell and nodata handling; aspect also with -zero_for_flat
awk 'BEGIN {
    print "ncols 12"; print "nrows 10"; print "xllcorner 500000"; print "yllcorner 4200000";
    print "cellsize 30"; print "NODATA_value -9999";
    for (r = 0; r < 10; r++) {
        line = "";
        for (c = 0; c < 12; c++) {
            z = 4000;
            if (c >= 6) z -= 10 * (c - 5);
            if (r >= 6) z -= 10 * (r - 5);
            if (r == 2 && c == 9) z = -9999;
            line = line (c ? " " : "") z;
        }
        print line;
    }
}' > flat_ramp.asc
gdal_translate -q -of GTiff -a_srs EPSG:32647 -ot Float32 flat_ramp.asc flat_ramp_utm47.tif
rm -f flat_ramp.asc flat_ramp.prj flat_ramp_utm47.tif.aux.xml
gdaldem slope -q -alg Horn flat_ramp_utm47.tif flat_ramp_utm47_slope_gdaldem.tif
gdaldem aspect -q -alg Horn flat_ramp_utm47.tif flat_ramp_utm47_aspect_gdaldem.tif
gdaldem aspect -q -alg Horn -zero_for_flat flat_ramp_utm47.tif flat_ramp_utm47_aspect_zero_for_flat_gdaldem.tif
rm -f ./*.aux.xml
ls -l ./*.tif
