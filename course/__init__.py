"""Instructor-side tools, one module a concern (README, "Folder map"): ``python -m course``
lists the commands."""
