"""Canvas and Moodle, in and out, through nbgrader's own plugin seams: the roster
(:mod:`course.lms.roster`), collecting (:mod:`course.lms.collect`), exporting
(:mod:`course.lms.export`) and the command line (:mod:`course.lms.cli`). The names below are
this package's: ``course.lms.CanvasCollector`` is what nbgrader's options name.

**In** (``python -m course.lms collect``, ``make collect``): the zip an LMS's "Download
submissions" produces goes through nbgrader's ``zip_collect`` machinery: an
:class:`~nbgrader.plugins.ExtractorPlugin` that keeps each entry's time
(:class:`EntryTimesExtractor`), a :class:`~nbgrader.plugins.FileNameCollectorPlugin` per LMS
whose ``named_regexp`` reads the LMS's naming scheme (:class:`CanvasCollector`,
:class:`MoodleCollector`) and maps the person to an nbgrader student id through the
instructor's roster CSV, and a :class:`~nbgrader.apps.ZipCollectApp` subclass
(:class:`LmsZipCollectApp`) that updates ``submitted/`` incrementally instead of clearing
it. Every file that is not collected is reported with the reason.

**Out** (``python -m course.lms export``, ``make export-lms``, or
``nbgrader export --exporter=course.lms.CanvasExport --CanvasExport.roster=roster.csv``):
:class:`~nbgrader.plugins.ExportPlugin` subclasses write the CSV each LMS's grade import
reads, one row per roster student.

The LMS naming schemes (checked against their source):

* Canvas (``lib/content_zipper.rb``): ``<sortable name, lowercased, non-word characters
  removed>[_LATE]_<Canvas user id>_<attachment id>_<file name as uploaded>``; Canvas
  renames a re-uploaded file ``name-1.ipynb``; anonymous grading writes
  ``anon_<anonymous id>`` instead of name and user id. Every entry carries the time the zip
  was built, not the submission time.
* Moodle (``mod/assign``, "download all submissions"): ``<full name>_<participant id>_
  assignsubmission_file_/<file>`` (folders, the default since 3.1) or ``..._file_<file>``
  (flat). The participant id is per assignment and in no export, so Moodle submissions are
  matched by full name; blind marking writes ``Participant`` instead of the name.
"""

from course.lms.cli import main
from course.lms.collect import (
    COLLECTORS,
    CanvasCollector,
    CollectReport,
    EntryTimesExtractor,
    LmsCollector,
    LmsZipCollectApp,
    MoodleCollector,
    collect,
)
from course.lms.export import EXPORTERS, CanvasExport, ExportResult, LmsExport, MoodleExport, export
from course.lms.roster import LMSES, LmsError, Roster, Student, read_roster

__all__ = [
    "COLLECTORS",
    "EXPORTERS",
    "LMSES",
    "CanvasCollector",
    "CanvasExport",
    "CollectReport",
    "EntryTimesExtractor",
    "ExportResult",
    "LmsCollector",
    "LmsError",
    "LmsExport",
    "LmsZipCollectApp",
    "MoodleCollector",
    "MoodleExport",
    "Roster",
    "Student",
    "collect",
    "export",
    "main",
    "read_roster",
]
