"""Scripted submissions, named by scenario: the sample class (honest and broken students,
`make demo` grades it) and the hostile class (attacks on the grader, graded by the tests).
Built from the released notebook and the source's solutions each time, so they follow every
notebook edit. Not part of the grading path: nothing in course/ or graders/ grades with them.
"""
