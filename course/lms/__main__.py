"""`python -m course.lms`: the command line (course.lms.cli); the plugins nbgrader loads are
imported from course.lms, never from this __main__."""

import sys

from course.lms import main

sys.exit(main())
