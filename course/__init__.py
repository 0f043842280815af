"""Instructor-side tooling: the sample class, the class runner and the TA summary."""
