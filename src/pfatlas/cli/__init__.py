"""The ``pfatlas`` command line: thin commands that parse, then call one library function."""
