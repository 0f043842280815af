"""What this course plugs into nbgrader 0.9.6 (see nbgrader_config.py): feedback without
tracebacks, a crash-free restore of deleted test cells, and sandboxed execution."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Enum, Integer

from course import gradebook, integrity, sandbox
from course.layout import Layout
from course.sandbox import Sandbox
from graders import CHECKS_ENV
from graders.report import Verdict

GRADING_DIR = "_grading"  # graders.hidden writes the artifacts the verifier judges here
VERIFIER_AHEAD = "c1w3_verifier_ahead"  # resources key: SandboxedExecute -> VerifyOutsideKernel


class HideTracebacks(Preprocessor):
    """Feedback: error outputs keep their message and lose their traceback.

    IPython prints a few source lines around the failing line of a cell. In a test cell
    whose visible part fails (a NameError, say), those lines include the hidden tests below
    it -- and ClearHiddenTests only cleans the cell's source, not its outputs.
    """

    enabled = Bool(True)  # nbgrader registers preprocessors without enabling them

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            printed = "".join(str(o.get("text", "")) for o in cell.get("outputs", []))
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    if output.get("evalue") and str(output["evalue"]) in printed:
                        # the verdict printed above already says it: each message once
                        message = f"{output.get('ename', 'Error')} (the message above)"
                    output["traceback"] = [message.rstrip(": ")]
        return cell, resources


class RestoreDeletedCells(OverwriteCells):
    """OverwriteCells whose deleted-test-cell restore does not crash.

    nbgrader 0.9.6 puts a deleted grade cell back after "the previous solution or grade
    cell", looked up by the source cell just before it; when that one is a plain locked
    cell (the training cell before `conv_test_accuracy`), autograde dies with a KeyError
    and the student gets no grade at all. Here the cell goes after the nearest earlier
    cell that is still in the submission, whatever its kind.
    """

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        source_by_id = {cell.name: cell for cell in source_nb.source_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        present = {
            cell.metadata["nbgrader"]["grade_id"]: cell
            for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id")
        }
        for grade_cell in source_nb.grade_cells:
            name = grade_cell.name
            if name in present:
                continue
            self.log.warning(f"Missing grade cell {name} encountered, adding to notebook")
            cell = self.missing_cell_transform(
                source_by_id[name], grade_cell.max_score, is_solution=name in solution_ids
            )
            earlier = [present[n] for n in order[: order.index(name)] if n in present]
            position = nb.cells.index(earlier[-1]) + 1 if earlier else 0
            nb.cells.insert(position, cell)
            present[name] = cell
        return nb, resources


# -- Sandboxed execution (docs/threat-model.md) -------------------------------------------


def grader_variables(config) -> tuple[dict[str, str], list[Path]]:
    """What the grading tells a student's kernel and the verifier, and the paths they may
    read besides: the one channel from the grader into the sandbox. The course's
    c1w3_checks.py (the graders judge with it), the training cache's folder ('' = none;
    course/training_cache.py), the accuracy bar and the evaluation's time limit
    (c.GradingLimits; graders/settings.py reads them)."""
    from course.context import GradingLimits
    from course.training_cache import TrainingCache, kernel_variables
    from graders.settings import TF_QUIET, TF_THREAD_VARIABLES

    root = CourseDirectory(config=config).root
    cache = TrainingCache(config=config).folder(root)
    checks = Layout(Path(root)).public_checks  # never the submission's own copy
    env = {
        **TF_THREAD_VARIABLES,  # a grade must not depend on the machine's cores
        **TF_QUIET,  # nbgrader scores a test cell 0 if anything reaches its stderr
        **kernel_variables(cache),
        **GradingLimits(config=config).kernel_variables(),
        CHECKS_ENV: str(checks),
    }
    # A course without the file (a bare test folder): not bound; the graders then say so.
    return env, [*([checks] if checks.is_file() else []), *([cache] if cache else [])]


def student_variables(student: str | None) -> dict[str, str]:
    """The id nbgrader grades under, for the kernel: a STUDENT_ID left as `...` is that id
    (c1w3_checks.signed_in_id reads it under the name the checks define)."""
    from graders import public_checks

    return {public_checks().GRADED_STUDENT_ENV: student} if student else {}


class GradingKernelManager(AsyncKernelManager):
    """A kernel started with the grader's variables (:func:`grader_variables`) and the graded
    student's id (set by :class:`SandboxedExecute`); used as is only with
    ``c.Sandbox.enabled = False`` (debugging)."""

    graded_student: str | None = None

    async def _async_pre_start_kernel(self, **kw):
        from graders.training_cache import WRITE_ENV

        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        env = {
            **kw.get("env", {}),
            **grader_variables(self.config)[0],
            **student_variables(self.graded_student),
        }
        env.pop(WRITE_ENV, None)  # a kernel never adds cache entries
        kw["env"] = env
        return kernel_cmd, kw


class SandboxedKernelManager(GradingKernelManager):
    """A kernel that runs in course.sandbox: no network (it talks to nbgrader over IPC
    sockets in a private folder), writes only its working copy, inside memory/process limits."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sandbox = Sandbox(config=self.config)
        self._runtime = sandbox.runtime_dir()
        self.transport = "ipc"
        self.connection_file = str(self._runtime / "kernel.json")
        self.ip = str(self._runtime / "kernel")
        self._cwd = Path.cwd()

    async def _async_pre_start_kernel(self, **kw):
        self._cwd = Path(kw.get("cwd") or Path.cwd()).resolve()
        self.sandbox.create_cgroups()
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        env, readable = grader_variables(self.config)
        env.update(student_variables(self.graded_student))
        return self.sandbox.command(
            argv, self._cwd, writable=[self._runtime], extra_readable=readable, env=env
        )

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.sandbox.watch(self.provisioner.pid, [self._cwd])

    async def _async_signal_kernel(self, signum: int) -> None:
        # An interrupt (a cell's time limit) must reach the kernel, not bwrap: see
        # Sandbox.signal_inside. Fatal signals still go to bwrap, which takes everything down.
        if signum in (signal.SIGKILL, signal.SIGTERM) or not self.has_kernel:
            return await super()._async_signal_kernel(signum)
        self.sandbox.signal_inside(signum)

    signal_kernel = _async_signal_kernel  # AsyncKernelManager binds the base one by name

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        self.sandbox.close()
        shutil.rmtree(self._runtime, ignore_errors=True)


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[])


# The notebook's two locked cells that train for real (graders/settings.py's recipe).
TRAINING_CELLS = ("train_dense_model", "train_conv_model")


class SandboxedExecute(Execute):
    """nbgrader's Execute with the per-submission limits this course needs.

    - the kernel runs in the sandbox (unless ``c.Sandbox.enabled = False``);
    - a wall-time budget for the whole notebook on top of the per-cell timeouts;
    - when the kernel dies (memory limit, a killed process, a crash) or the budget is spent,
      this cell and every later one get an error output that says why, instead of nbgrader
      abandoning the whole submission (nbclient raises DeadKernelError);
    - at most `max_output_kb` of output is kept in memory: a print loop cannot grow
      nbgrader's own process without bound (nbgrader's LimitOutput only trims afterwards).
    """

    submission_seconds = Integer(
        900, help="Wall time for executing one submission's notebook, all cells together."
    ).tag(config=True)
    # The two locked training cells train for real on 2 cores (conv ~50-100 s, dense ~15 s):
    # 600 s leaves room for a loaded or slower machine and a student's heavier (wrong) model.
    training_cell_seconds = Integer(
        600, help="Time limit of each of the two locked training cells (TRAINING_CELLS)."
    ).tag(config=True)
    cell_seconds = Integer(
        60, help="Time limit of every other code cell: an infinite loop costs this much."
    ).tag(config=True)
    max_output_kb = Integer(2048, help="Output kept per notebook; the rest is dropped.").tag(
        config=True
    )
    # After an interrupt, how long the kernel may take to report back before it counts as
    # unresponsive (nbclient's 4 s is tight for a kernel sharing a loaded CPU).
    iopub_timeout = Integer(10).tag(config=True)
    # The last cell has replied: the artifacts are on disk. A graceful shutdown waits up to
    # ~3 s for a kernel that is slow to exit (a loaded CPU, TensorFlow's threads) and lets a
    # student's background thread run on meanwhile; neither is wanted.
    shutdown_kernel = Enum(
        ["graceful", "immediate"],
        default_value="immediate",
        help="After the last cell: 'immediate' stops the kernel at once (nbclient: 'graceful').",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        sandboxed = Sandbox(config=kwargs.get("config")).enabled
        manager = SandboxedKernelManager if sandboxed else GradingKernelManager
        kwargs.setdefault("kernel_manager_class", manager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.submission_seconds
        self._stopped = ""
        self._output_bytes = 0
        self._timeouts_in_a_row = 0
        path = Path((resources or {}).get("metadata", {}).get("path") or ".")
        self._student = (resources or {}).get("nbgrader", {}).get("student")
        # Artifacts are judged after execution; none may come from the submission itself.
        shutil.rmtree(path / GRADING_DIR, ignore_errors=True)
        if resources is not None:  # the verifier's TensorFlow starts while the kernel runs
            resources[VERIFIER_AHEAD] = VerifyOutsideKernel(config=self.config).start_ahead(
                path / GRADING_DIR, resources.get("nbgrader", {}).get("student")
            )
        try:
            return super().preprocess(nb, resources, km)
        except BaseException:  # nbgrader gives up on this notebook: nothing will say "go"
            ahead = (resources or {}).pop(VERIFIER_AHEAD, None)
            if ahead is not None:
                ahead.cancel()
            raise

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.graded_student = getattr(self, "_student", None)
        return km

    def _get_timeout(self, cell):
        """The cell's own limit (c.SandboxedExecute.cell_seconds / training_cell_seconds,
        which replace nbgrader's Execute.timeout here), never past the submission's budget."""
        grade_id = (cell or {}).get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        own = self.training_cell_seconds if grade_id in TRAINING_CELLS else self.cell_seconds
        return min(own, max(1, int(self._deadline - time.monotonic())))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if not self._stopped and time.monotonic() >= self._deadline:
            self._stopped = f"the submission's time limit of {self.submission_seconds} s was spent"
        if self._stopped:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        limit = self._get_timeout(cell)
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = self._limit_hit() or "the notebook's kernel died (it exited or was killed)"
            self._stopped = f"{reason} in an earlier cell"
            cell.outputs.append(_error("KernelStopped", reason))
            return cell, self.resources
        except CellTimeoutError:
            # Interrupted at its time limit, the kernel never went idle (SIGINT ignored):
            # nbclient gives up on the whole notebook; here only the rest of it is lost.
            reason = "the kernel stopped responding after the cell's time limit"
            self._stopped = f"{reason} in an earlier cell"
            cell.outputs.append(_error("KernelStopped", reason))
            return cell, self.resources
        timed_out = False
        for output in cell.outputs:
            if output.get("ename") == "CellTimeoutError":
                timed_out = True
                # nbclient leaves it empty: the student and the TA read which limit it was
                output["evalue"] = output.get("evalue") or f"its time limit is {limit} s"
        self._timeouts_in_a_row = self._timeouts_in_a_row + 1 if timed_out else 0
        if self._timeouts_in_a_row >= 2:
            # An interrupt did not bring the kernel back (SIGINT ignored, stuck in C code):
            # every later cell would only wait out its own timeout.
            self._stopped = "the kernel stopped responding (two cells in a row timed out)"
        return cell, resources

    def _limit_hit(self) -> str:
        box = getattr(self.km, "sandbox", None)
        return box.limit_hit() if box is not None else ""

    def _dropped_note(self) -> NotebookNode:
        """Not a stream output: nbgrader's LimitOutput, which runs later, keeps a cell's first
        1,000 stream lines and drops every stream output after them, so a stream note survived
        only when the kernel had sent the lines before it in a few large messages (an idle
        machine), not in many small ones (a loaded one). LimitOutput keeps display data."""
        note = f"[output beyond {self.max_output_kb} KB dropped by the grader]"
        return NotebookNode(output_type="display_data", data={"text/plain": note}, metadata={})

    def output(self, outs, msg, display_id, cell_index):
        kind = msg["msg_type"]
        if kind in ("stream", "display_data", "update_display_data"):
            content = msg.get("content", {})
            size = len(str(content.get("text", ""))) + sum(
                len(str(v)) for v in content.get("data", {}).values()
            )
            self._output_bytes += size
            limit = self.max_output_kb * 1024
            if self._output_bytes > limit:
                if self._output_bytes - size <= limit:  # the first message over the limit
                    outs.append(self._dropped_note())
                elif content.get("name") == "stderr" and not any(
                    o.get("name") == "stderr" for o in outs
                ):
                    outs.append(NotebookNode(output_type="stream", name="stderr", text="[...]"))
                return None
        return super().output(outs, msg, display_id, cell_index)


# -- Points decided outside the kernel ------------------------------------------------------


def recorded_readings(nb) -> dict:
    """What the provided cells measured (c1w3_checks.record_readings): their outputs of that
    kind, later ones winning, read only from the locked cells graders.registry.READINGS_CELLS
    names (nbgrader restored their source); an answer cell cannot add or change one."""
    from graders import public_checks, registry

    mime = public_checks().READINGS_MIME
    readings = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade_id") not in registry.READINGS_CELLS:
            continue
        if not meta.get("locked") or meta.get("solution") or meta.get("grade"):
            continue
        for output in cell.get("outputs", []):
            data = (
                output.get("data", {}).get(mime)
                if output.get("output_type") == "display_data"
                else None
            )
            if isinstance(data, dict):
                readings.update(data)
    return readings


class VerifyOutsideKernel(NbGraderPreprocessor):
    """After the notebook ran: judge its saved artifacts in a fresh ``python -I`` (in the
    sandbox, read-only) and make every autograded cell's outputs say that verdict, so the
    points nbgrader records come from outside the student's kernel.

    The kernel's own verdict for each cell is compared with this one (course.integrity);
    any disagreement is written to ``reports/integrity/<assignment>/<student>.json`` (the TA
    summary lists them): a notebook that patched the in-kernel checks shows up there, and
    gains nothing.
    """

    enabled = Bool(True)
    timeout = Integer(300, help="Seconds for the verifier (TensorFlow start + 70,000 images).").tag(
        config=True
    )
    ahead = Bool(
        True, help="Start the verifier with the kernel: its TensorFlow start (~2.5 s) overlaps."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        path = Path(resources["metadata"]["path"]).resolve()
        ahead = resources.pop(VERIFIER_AHEAD, None)
        info = resources["nbgrader"]
        student = info["student"]
        if ahead is not None and ahead.student != student:
            ahead.cancel()
            ahead = None
        declared = declared_id(path / GRADING_DIR)
        coursedir = CourseDirectory(config=self.config)
        model_id = integrity.part4_model_id(student, declared, self._enrolled(coursedir))
        verdicts, problem = _parsed(
            *self._verify(path / GRADING_DIR, ahead, student, model_id, recorded_readings(nb))
        )
        cells = self.apply_verdicts(nb, verdicts, problem)
        record = integrity.compute(student, info["assignment"], cells, problem, declared, model_id)
        integrity.write(coursedir.root, record)
        return nb, resources

    def _enrolled(self, coursedir: CourseDirectory) -> set[str] | None:
        """The gradebook's student ids: a declared id among them is another student's."""
        try:
            with gradebook.open_gradebook(Path(coursedir.root), coursedir.db_url) as gb:
                return {s.id for s in gb.students}
        except Exception as exc:  # no roster: every other declared id counts as a student's
            self.log.warning("gradebook's students not read (%s)", exc)
            return None

    def start_ahead(self, grading: Path, student: str | None = None) -> _Ahead | None:
        """Start the verifier (``--wait``) on an empty `grading` folder before the kernel
        runs, so its TensorFlow start overlaps the notebook's run; None if it cannot (then
        `_verify` starts one as before, with the same errors)."""
        if not self.enabled or not self.ahead:
            return None
        try:
            grading.mkdir()
            return _Ahead(self._start(grading, "--wait", *_student(student)), grading, student)
        except Exception as exc:
            self.log.debug("verifier not started ahead: %s", exc)
            return None

    def apply_verdicts(
        self, nb, verdicts: dict[str, Verdict], problem: str
    ) -> dict[str, integrity.Graded]:
        """Make each autograded cell's outputs say its verdict, the points nbgrader reads.

        `verdicts`: the verifier's, by grade id; `problem`: why it gave none, if it failed.
        """
        from graders import registry

        cells = {}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type != "code" or grade_id not in registry.POINTS:
                continue
            kernel_points, max_points = utils.determine_grade(cell)
            verdict = verdicts.get(grade_id) or Verdict.unverified(grade_id, max_points, problem)
            if not verdict.ran or (not problem and grade_id not in verdicts):  # no artifacts
                verdict = verdict.not_run(_stopped_by(cell))
            # What the cell's visible part printed stays; the verdict replaces the rest.
            printed = [o for o in cell.outputs if o.get("name") == "stdout"]
            cell.outputs = printed + _outputs(verdict)
            cells[grade_id] = integrity.Graded(kernel_points, max_points, verdict)
        return cells

    def _verify(
        self,
        grading: Path,
        ahead: _Ahead | None = None,
        student: str | None = None,
        model_id: str | None = None,
        readings: dict | None = None,
    ) -> tuple[dict, str]:
        if ahead is not None and not ahead.usable(grading):
            ahead.cancel()  # it ended early, or the folder was replaced: start a fresh one
            ahead = None
        if not grading.is_dir() or not any(grading.iterdir()):
            if ahead is not None:
                ahead.cancel()
            return {}, ""  # no hidden cell ran: every check is 'not run'
        try:
            started = (
                ahead.started
                if ahead is not None
                else self._start(grading, "--wait", *_student(student))
            )
            options = {"model_id": model_id, "readings": readings}
            options = {k: v for k, v in options.items() if v is not None}
            go = f"go {json.dumps(options)}" if options else "go"
            done, limit = started.finish(go + "\n", timeout=self.timeout)
        except sandbox.SandboxError:
            raise  # no sandbox, no grading: nbgrader reports it for this student
        except Exception as exc:
            return {}, f"{type(exc).__name__}: {exc}"
        lines = done.stdout.strip().splitlines()
        try:
            return json.loads(lines[-1]), ""
        except (IndexError, ValueError):
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, limit or f"exit {done.returncode}: {tail[:200]}"

    def _start(self, grading: Path, *options: str) -> sandbox.Started:
        argv = [sys.executable, "-I", "-m", "graders.verify", *options, str(grading)]
        # The cache's evaluations: a model whose weights an instructor's run already
        # evaluated is not evaluated on 70,000 images again (graders.evaluate_model).
        env, readable = grader_variables(self.config)
        return sandbox.start(
            argv, grading, config=self.config, cwd_writable=False, extra_readable=readable,
            env=env,
        )  # fmt: skip


class _Ahead:
    """A verifier started before the kernel, bound to the grading folder as it was then."""

    def __init__(self, started: sandbox.Started, grading: Path, student: str | None):
        self.started, self._identity, self.student = started, _identity(grading), student

    def usable(self, grading: Path) -> bool:
        """Still waiting for `go`, on the folder bound into its sandbox (not replaced)."""
        alive = self.started.proc.poll() is None
        return alive and not grading.is_symlink() and _identity(grading) == self._identity

    def cancel(self) -> None:
        self.started.cancel()


def _student(student: str | None) -> list[str]:
    """The verifier's option naming the student graded (Part 4's model is theirs)."""
    return ["--student", student] if student else []


def declared_id(grading: Path) -> str | None:
    """The STUDENT_ID the notebook declared, as its Part 4 check saved it. The file is the
    submission's (untrusted): a regular file of at most 1 MB, or nothing is read."""
    from graders import registry

    for grade_id in sorted(registry.VARIANT_GRADE_IDS):
        path = grading / f"{grade_id}.json"
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 2**20:
                continue
            declared = json.loads(path.read_text()).get("declared_id")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(declared, str):
            return declared[:200]
    return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _parsed(results: dict, problem: str) -> tuple[dict[str, Verdict], str]:
    try:
        return {gid: Verdict.from_json(v) for gid, v in results.items()}, problem
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return {}, problem or f"the verifier's output is not a verdict ({type(exc).__name__})"


def _stopped_by(cell) -> str | None:
    """The cell's own error, which stopped it before the grader's part, if it showed one."""
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    return f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else None


def _outputs(verdict: Verdict) -> list:
    text = f"Graded outside your notebook:\n{verdict.text}\n"
    outputs = [NotebookNode(output_type="stream", name="stdout", text=text)]
    if not verdict.all_or_nothing:
        outputs.append(
            NotebookNode(
                output_type="execute_result",
                execution_count=None,
                metadata={},
                data={"text/plain": repr(float(verdict.points))},
            )
        )
    elif not verdict.passed:
        outputs.append(_error("CheckFailed", "; ".join(verdict.failures)))
    return outputs
