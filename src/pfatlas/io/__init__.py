"""Readers and writers: the only modules of pfatlas that open files."""
