"""The collusion class written into a course folder, and the pairs it plants."""

from __future__ import annotations

import shutil
from pathlib import Path

from course.layout import COURSE_ROOT
from scenarios import collusion_class
from tests.support.course import make_course

PLANTED = {tuple(sorted(pair)) for pair in collusion_class.PLANTED}


def collusion_course(root: Path, notebooks=None) -> Path:
    """A course folder with source/, release/ and the collusion class in submitted/."""
    root.mkdir(parents=True, exist_ok=True)
    course = make_course(root)
    shutil.copytree(COURSE_ROOT / "release", course / "release")
    collusion_class.write_notebooks(course, notebooks or collusion_class.class_notebooks())
    return course
