"""The atlas a person reads: colour scales, tables, map plates, the PDF atlas, the viewer, STAC."""
