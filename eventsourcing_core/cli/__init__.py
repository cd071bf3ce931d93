"""The ``escore`` command line: migrate, inspect and append to streams, manage the server."""
