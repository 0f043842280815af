"""In: an LMS's "download submissions" zip -> submitted/<student>/ through nbgrader's
zip_collect (the naming schemes: course/lms/__init__.py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from nbgrader.apps import ZipCollectApp
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Enum, Unicode

from course.lms.roster import (
    TIMESTAMP_FILE,
    LmsError,
    Roster,
    Student,
    id_problem,
    normalize_name,
    read_roster,
)
from graders import ASSIGNMENT

# ------------------------------------------------------------------------------ collect


class EntryTimesExtractor(ExtractorPlugin):
    """Extract each zip in the archive folder into ``<extracted>/<zip name>/`` and give every
    file its zip entry's time (nbgrader's default extractor, via setuptools, sets the time of
    extraction). Archives inside the zip are left as files (and reported, not collected)."""

    zip_timezone = Unicode(
        "UTC",
        help="Time zone of the zip's entry times (zip stores local times without a zone; "
        "Canvas and most Moodle servers write UTC).",
    ).tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        tz = ZoneInfo(self.zip_timezone)
        for name in sorted(os.listdir(archive_path)):
            source = os.path.join(archive_path, name)
            if not zipfile.is_zipfile(source):
                self.log.warning("Not a zip file, copied as is: %s", source)
                shutil.copy2(source, extracted_path)
                continue
            target = os.path.join(extracted_path, Path(name).stem)
            os.makedirs(target, exist_ok=True)
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    info.filename = _entry_name(info)
                    written = zf.extract(info, target)  # ZipFile.extract drops '..' and '/'
                    when = datetime(*info.date_time, tzinfo=tz).timestamp()
                    os.utime(written, (when, when))


def _entry_name(info: zipfile.ZipInfo) -> str:
    """Entry names without the zip's UTF-8 flag are decoded as cp437 by Python; the LMSes
    write UTF-8, so undo that when it gives valid UTF-8 (names with accents)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


@dataclass
class Parsed:
    """One zip entry the collector could attribute to a roster student."""

    src: str
    entry: str  # its name inside the zip
    student: Student
    file_id: str  # the file's own name (kept as is in submitted/)
    late: bool
    mtime: float  # the zip entry's time
    attachment_id: int = -1  # Canvas: increases with every upload

    @property
    def resubmission(self) -> int:
        """Canvas's rename of a re-uploaded file: name-1.ipynb, name-2.ipynb, ..."""
        m = re.search(r"-(\d+)$", Path(self.file_id).stem)
        return int(m.group(1)) if m else 0

    @property
    def base(self) -> str:
        return re.sub(r"-\d+$", "", Path(self.file_id).stem)


class LmsCollector(FileNameCollectorPlugin):
    """Shared part of the LMS collectors: roster lookup, reasons for everything skipped.

    ``collect()`` returns nbgrader's dict (student_id, file_id, timestamp) or None; the
    reason for every None is kept in ``rejected`` (path -> reason)."""

    lms = ""
    scheme = ""  # the naming scheme, for messages

    roster = Unicode("", help="Path of the roster CSV exported from the LMS.").tag(config=True)
    id_column = Unicode(
        "", help="Roster column that becomes the nbgrader student id (default per LMS)."
    ).tag(config=True)
    timestamps = Enum(
        ["late", "all", "none"],
        default_value="late",
        help="Which submissions get nbgrader's timestamp.txt: only those the LMS marks late "
        "(the zip entry's time, or a time in the name), all, or none.",
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.parsed: dict[str, Parsed] = {}
        self.rejected: dict[str, str] = {}
        self._roster: Roster | None = None

    @property
    def roster_data(self) -> Roster:
        if self._roster is None:
            self._roster = read_roster(self.roster, self.lms, self.id_column or None)
        return self._roster

    def entry_name(self, path: str) -> str:
        """The file's name inside the zip: its path under <extracted>/<zip name>/."""
        root = Path(self.parent._format_collect_path(self.parent.extracted_directory))
        parts = Path(path).relative_to(root).parts
        return "/".join(parts[1:]) if len(parts) > 1 else parts[0]

    def reject(self, path: str, reason: str) -> None:
        self.rejected[path] = reason
        return None

    def parse(self, path: str) -> Parsed | None:
        if path in self.parsed or path in self.rejected:
            return self.parsed.get(path)
        entry = self.entry_name(path)
        if Path(path).parent == Path(
            self.parent._format_collect_path(self.parent.extracted_directory)
        ):
            return self.reject(path, "not inside the LMS zip")
        who = None
        groups = self._match(entry)
        if groups:
            who = self.find_student(groups)
        ext = os.path.splitext(entry)[1]
        if ext not in self.valid_ext:
            owner = f" (from {who.student_id})" if isinstance(who, Student) else ""
            kind = "an archive inside the zip (not opened)" if ext in (".zip", ".gz") else None
            return self.reject(
                path,
                f"not a notebook{owner}: {kind or repr(ext or 'no extension')}; "
                f"collected: {', '.join(self.valid_ext)}",
            )
        if not groups:
            return self.reject(path, self.unparsable(entry))
        if not isinstance(who, Student):
            return self.reject(path, who)
        problem = id_problem(who.student_id)
        if problem:
            return self.reject(
                path,
                f"roster row {who.label!r}: {self.roster_data.id_column} is {problem}",
            )
        parsed = Parsed(
            src=path,
            entry=entry,
            student=who,
            file_id=groups["file_id"],
            late=bool(groups.get("late")),
            mtime=os.stat(path).st_mtime,
            attachment_id=int(groups.get("attachment_id") or -1),
        )
        self.parsed[path] = parsed
        return parsed

    def unparsable(self, entry: str) -> str:
        return f"name does not follow {self.lms.capitalize()}'s scheme {self.scheme}"

    def find_student(self, groups: dict) -> Student | str:
        raise NotImplementedError

    def timestamp(self, parsed: Parsed) -> str | None:
        if self.timestamps == "none" or (self.timestamps == "late" and not parsed.late):
            return None
        return datetime.fromtimestamp(parsed.mtime, UTC).isoformat(" ")

    def collect(self, submitted_file: str) -> dict | None:
        parsed = self.parse(submitted_file)
        if parsed is None:
            return None
        info = {"student_id": parsed.student.student_id, "file_id": parsed.file_id}
        stamp = self.timestamp(parsed)
        if stamp:
            info["timestamp"] = stamp
        return info


class CanvasCollector(LmsCollector):
    """Canvas's "Download Submissions" zip, matched to the roster by Canvas user id (the
    roster's ``ID`` column)."""

    lms = "canvas"
    scheme = "<name>[_LATE]_<user id>_<attachment id>_<file>"
    named_regexp = Unicode(
        r"^(?P<canvas_name>\w+?)(?:_(?P<late>(?i:late)))?_(?P<canvas_id>\d+)"
        r"_(?P<attachment_id>\d+)_(?P<file_id>[^/]+)$"
    ).tag(config=True)

    def unparsable(self, entry: str) -> str:
        if re.match(r"^(?:(?i:late)_)?anon_", entry):
            return (
                "anonymous grading: Canvas wrote no user id; download again after turning "
                "anonymity off"
            )
        return super().unparsable(entry)

    def find_student(self, groups: dict) -> Student | str:
        matches = self.roster_data.by_column("ID").get(groups["canvas_id"], [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            return f"Canvas user id {groups['canvas_id']} is on {len(matches)} roster rows"
        return (
            f"not in the roster: Canvas user id {groups['canvas_id']} "
            f"({groups['canvas_name']}) is in no row's ID column"
        )


class MoodleCollector(LmsCollector):
    """Moodle's "Download all submissions" zip (folders or flat), matched to the roster by
    full name ("First name Last name", or "Last name First name"), which must be unique."""

    lms = "moodle"
    scheme = "<full name>_<participant id>_assignsubmission_file_[/]<file>"
    named_regexp = Unicode(
        r"^(?P<full_name>[^_/]+)_(?P<participant_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
        r"/?(?P<file_id>.+)$"
    ).tag(config=True)

    def find_student(self, groups: dict) -> Student | str:
        name = normalize_name(groups["full_name"])
        if name == "participant":
            return "blind marking: Moodle wrote no name; reveal student identities, then download"
        matches = []
        for s in self.roster_data.students:
            first, last = s.row.get("First name", ""), s.row.get("Last name", "")
            if name in (normalize_name(f"{first} {last}"), normalize_name(f"{last} {first}")):
                matches.append(s)
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(s.student_id or "(empty id)" for s in matches)
            return (
                f"ambiguous: {len(matches)} roster rows are named {groups['full_name']!r} ({ids})"
            )
        return f"not in the roster: no row named {groups['full_name']!r}"


COLLECTORS = {"canvas": CanvasCollector, "moodle": MoodleCollector}


@dataclass
class Outcome:
    entry: str  # name inside the zip ("" for a file only in submitted/)
    student: str
    action: str  # new | updated | unchanged | kept | superseded | removed
    file: str = ""  # path under submitted/<student>/<assignment>/
    detail: str = ""


@dataclass
class CollectReport:
    lms: str
    zip: str
    roster: Roster
    outcomes: list[Outcome] = field(default_factory=list)
    not_collected: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)
    warnings: list[str] = field(default_factory=list)

    def actions(self, action: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == action]

    def format(self) -> str:
        counts = {}
        for o in self.outcomes:
            counts[o.action] = counts.get(o.action, 0) + 1
        summary = ", ".join(f"{n} {a}" for a, n in counts.items()) or "nothing collected"
        lines = [
            f"{self.lms} zip {self.zip} -> submitted/<student>/{ASSIGNMENT}/ "
            f"(student id = roster column {self.roster.id_column!r}): {summary}; "
            f"{len(self.not_collected)} not collected"
        ]
        for o in self.outcomes:
            where = f"{o.student}/{o.file}" if o.file else o.student
            text = f"  {o.action:<10} {where}"
            if o.entry:
                text += f"  <- {o.entry}"
            if o.detail:
                text += f"  ({o.detail})"
            lines.append(text)
        for w in self.warnings:
            lines.append(f"  WARNING: {w}")
        if self.not_collected:
            lines.append(f"NOT COLLECTED ({len(self.not_collected)}):")
            lines += [f"  {entry}: {reason}" for entry, reason in self.not_collected]
        return "\n".join(lines)


def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class LmsZipCollectApp(ZipCollectApp):
    """nbgrader's ZipCollectApp with two changes: several uploads of one notebook by one
    student keep only the newest (Canvas's name-1.ipynb, a later entry), and ``submitted/``
    is updated in place: an unchanged submission is not touched, a newer one replaces the
    older (files it no longer has are removed), an older one is kept out (unless --force).
    nbgrader's own version clears each student's folder, or refuses without --force."""

    name = "c1w3-lms-collect"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.outcomes: list[Outcome] = []
        self.lms_warnings: list[str] = []

    def _released_notebooks(self) -> list[str]:
        released = Path(
            self.coursedir.format_path(
                self.coursedir.release_directory, ".", self.coursedir.assignment_id
            )
        )
        return sorted(p.name for p in released.glob("*.ipynb"))

    def _group(self, parsed: Parsed, released: list[str]) -> str:
        """Which notebook of the assignment a file is an upload of."""
        if f"{parsed.base}.ipynb" in released:
            return parsed.base
        if len(released) == 1 and Path(parsed.file_id).name == parsed.file_id:
            return Path(released[0]).stem  # any top-level notebook: the one notebook
        return parsed.file_id

    def _collect_files(self, src_files):
        plugin = self.collector_plugin_inst
        released = self._released_notebooks()
        newest: dict[tuple[str, str], Parsed] = {}
        for f in src_files:
            p = plugin.parse(f)
            if p is None:
                continue
            key = (p.student.student_id, self._group(p, released))
            old = newest.get(key)
            if old is None or _recency(p) > _recency(old):
                newest[key] = p
        keep = {p.src for p in newest.values()}
        for f in src_files:
            p = plugin.parsed.get(f)
            if p is not None and f not in keep:
                winner = newest[(p.student.student_id, self._group(p, released))]
                self.outcomes.append(
                    Outcome(
                        p.entry,
                        p.student.student_id,
                        "superseded",
                        p.file_id,
                        detail=f"an older upload; {winner.file_id} is newer",
                    )
                )
        return super()._collect_files(sorted(keep))

    def _transfer_files(self, collected_data):
        plugin = self.collector_plugin_inst
        by_dest = {}
        for p in plugin.parsed.values():
            by_dest[p.src] = p
        for student_id in sorted(collected_data):
            data = collected_data[student_id]
            dest_dir = Path(
                self.coursedir.format_path(
                    self.coursedir.submitted_directory, student_id, self.coursedir.assignment_id
                )
            )
            want = {}  # relative path -> Parsed
            for src, dest in zip(data["src_files"], data["dest_files"], strict=True):
                want[Path(dest).relative_to(dest_dir).as_posix()] = by_dest[src]
            stamp = data["timestamp"].isoformat(" ") if data["timestamp"] is not None else None
            self._sync_student(student_id, dest_dir, want, stamp)
            released = self._released_notebooks()
            for rel in sorted(want):
                if rel.endswith(".ipynb") and rel not in released:
                    self.lms_warnings.append(
                        f"{student_id}: {rel} is not named {' or '.join(released)} (kept as is)"
                    )
            if len(want) > 1:
                self.lms_warnings.append(
                    f"{student_id} submitted {len(want)} files: {', '.join(sorted(want))}"
                )

    def _sync_student(self, student_id, dest_dir: Path, want: dict, stamp: str | None) -> None:
        have = {}
        if dest_dir.is_dir():
            for f in dest_dir.rglob("*"):
                rel = f.relative_to(dest_dir).as_posix()
                if f.is_file() and rel != TIMESTAMP_FILE:
                    have[rel] = f
        same = set(have) == set(want) and all(
            _digest(have[rel]) == _digest(p.src) for rel, p in want.items()
        )
        if same:
            for rel, p in sorted(want.items()):
                self.outcomes.append(Outcome(p.entry, student_id, "unchanged", rel))
            return
        newest_here = max((f.stat().st_mtime for f in have.values()), default=None)
        newest_zip = max(p.mtime for p in want.values())
        if newest_here is not None and newest_here > newest_zip and not self.force:
            for rel, p in sorted(want.items()):
                self.outcomes.append(
                    Outcome(
                        p.entry,
                        student_id,
                        "kept",
                        rel,
                        f"submitted/ holds a newer submission ({_utc(newest_here)} > this "
                        f"zip's {_utc(newest_zip)}); --force replaces it",
                    )
                )
            return
        dest_dir.mkdir(parents=True, exist_ok=True)
        for rel, p in sorted(want.items()):
            target = dest_dir / rel
            if rel in have and _digest(have[rel]) == _digest(p.src):
                self.outcomes.append(Outcome(p.entry, student_id, "unchanged", rel))
                continue
            action = "updated" if rel in have else "new"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p.src, target)  # keeps the entry's time: the next run compares it
            detail = "LATE" if p.late else ""
            self.outcomes.append(Outcome(p.entry, student_id, action, rel, detail))
        for rel in sorted(set(have) - set(want)):
            have[rel].unlink()
            self.outcomes.append(
                Outcome("", student_id, "removed", rel, "not in the newer submission")
            )
        stamp_file = dest_dir / TIMESTAMP_FILE
        if stamp is not None:
            if not stamp_file.exists() or stamp_file.read_text() != stamp:
                stamp_file.write_text(stamp)
                self.outcomes.append(Outcome("", student_id, "timestamp", TIMESTAMP_FILE, stamp))
        elif stamp_file.exists():
            stamp_file.unlink()
            self.outcomes.append(
                Outcome(
                    "", student_id, "removed", TIMESTAMP_FILE, "the newer submission is on time"
                )
            )


def _recency(p: Parsed) -> tuple:
    """Newer upload first: the entry's time, then Canvas's attachment id (it grows with
    every upload), then Canvas's -N rename, then the name (a stable order)."""
    return (p.mtime, p.attachment_id, p.resubmission, p.entry)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def collect(
    course_root,
    zip_path,
    roster_path,
    *,
    lms: str | None = None,
    id_column: str | None = None,
    timestamps: str = "late",
    force: bool = False,
    zip_timezone: str = "UTC",
    verbose: bool = False,
) -> CollectReport:
    """LMS zip -> submitted/<student>/<ASSIGNMENT>/, through LmsZipCollectApp."""
    course_root, zip_path = Path(course_root).resolve(), Path(zip_path).resolve()
    if not zipfile.is_zipfile(zip_path):
        raise LmsError(f"{zip_path}: not a zip file")
    roster = read_roster(roster_path, lms, id_column)  # fails early, detects the LMS
    collector = COLLECTORS[roster.lms]
    with tempfile.TemporaryDirectory(prefix="lms-collect-") as downloaded:
        archive = Path(downloaded) / "downloaded" / ASSIGNMENT / "archive"
        archive.mkdir(parents=True)
        shutil.copy2(zip_path, archive / zip_path.name)
        argv = [
            ASSIGNMENT,
            f"--CourseDirectory.root={course_root}",
            # nbgrader joins the course root with this; an absolute path keeps the unzipped
            # files out of the course folder.
            "--ZipCollectApp.collect_directory_structure="
            + os.path.join(downloaded, "{downloaded}", "{assignment_id}", "{collect_step}"),
            f"--ZipCollectApp.extractor_plugin={EntryTimesExtractor.__module__}.EntryTimesExtractor",
            f"--ZipCollectApp.collector_plugin={collector.__module__}.{collector.__name__}",
            f"--LmsCollector.roster={Path(roster_path).resolve()}",
            f"--LmsCollector.id_column={roster.id_column}",
            f"--LmsCollector.timestamps={timestamps}",
            f"--EntryTimesExtractor.zip_timezone={zip_timezone}",
            f"--Application.log_level={'INFO' if verbose else 'CRITICAL'}",
        ]
        if force:
            argv.append("--ZipCollectApp.force=True")
        app = LmsZipCollectApp()
        try:
            app.initialize(argv)
            app.start()
        finally:
            app.deinit_logging()
        plugin = app.collector_plugin_inst
        report = CollectReport(roster.lms, str(zip_path), plugin.roster_data)
        report.outcomes = app.outcomes
        report.warnings = app.lms_warnings
        report.not_collected = sorted(
            (plugin.entry_name(path), reason) for path, reason in plugin.rejected.items()
        )
    return report
