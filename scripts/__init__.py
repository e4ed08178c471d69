"""Maintenance scripts, run as files (``.venv/bin/python scripts/NAME.py``); a package only so
that tests can import them."""
