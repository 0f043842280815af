"""python -m course.similarity: the report for the course's class (course.similarity.report)."""

from course.similarity.report import main

raise SystemExit(main())
