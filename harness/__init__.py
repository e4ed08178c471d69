"""The command line and the orchestration: the only package that imports all the others."""
