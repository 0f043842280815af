"""Grade a class on a SLURM cluster: each SLURM job is one Dask worker that grades one
submission at a time on 2 cores; all of them write to one PostgreSQL gradebook.

Not run by the tests (no SLURM here). Copy it, adapt the marked lines to your site, run it
on a login node from the course folder:

    pip install -e '.[slurm]'            # dask-jobqueue, in the same venv on every node
    python -m course.slurm_example --dry-run   # print the sbatch script, submit nothing
    C1W3_DB_URL=postgresql://USER:PASSWORD@DBHOST:5432/c1w3 python -m course.slurm_example

Needs: the course folder (submitted/, autograded/, reports/), this venv and the Keras data
cache on a file system every node sees, at the same paths; a PostgreSQL database the nodes
can reach (the gradebook; run ``nbgrader generate_assignment`` against it once, with
``--CourseDirectory.db_url``); SLURM confining each job to its cores (cgroup ConstrainCores
or task/affinity), since each grading is pinned to the cores its worker process sees.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from course import grade, gradebook
from course.cluster import dask_grader
from course.context import GradingContext
from course.layout import COURSE_ROOT


def make_cluster(course: Path):
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        cores=2,  # SLURM books 2 cores per job (--cpus-per-task=2)
        processes=1,  # one Dask worker per job
        # ...which grades one submission at a time on both cores (the last --nthreads
        # wins over the 2 that cores= sets): two TensorFlow kernels would not fit in 3 GB
        worker_extra_args=["--nthreads", "1"],
        memory="3GB",  # honest training peaks near 2 GB
        walltime="02:00:00",  # a job grades many submissions (25 min each at most)
        job_extra_directives=[
            "--partition=cpu",  # <- your site's partition
            "--account=my-course",  # <- your allocation
        ],
        job_name="c1w3-grading",
        log_directory=str(course.resolve() / "reports" / "slurm"),  # one log per job
        job_script_prologue=[
            f"cd {course.resolve()}",
            "export TF_CPP_MIN_LOG_LEVEL=3",
        ],
        python=sys.executable,  # this venv, on the shared file system
        local_directory="$TMPDIR",  # Dask's spill files on the node, not on the share
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--course", type=Path, default=COURSE_ROOT)
    parser.add_argument("--jobs", type=int, default=10, help="SLURM jobs (= workers)")
    parser.add_argument("--db-url", default=os.environ.get(gradebook.ENV))
    parser.add_argument("--all", action="store_true", help="regrade everyone")
    parser.add_argument("--dry-run", action="store_true", help="print the job script only")
    args = parser.parse_args(argv)

    with make_cluster(args.course) as cluster:
        if args.dry_run:
            print(cluster.job_script())
            return 0
        if not args.db_url:
            raise SystemExit(f"set {gradebook.ENV} or --db-url to the PostgreSQL gradebook")
        cluster.scale(jobs=args.jobs)

        # tasks wait in the scheduler until the first jobs start and their workers connect
        on_slurm = dask_grader(
            scheduler_address=cluster.scheduler_address, only_missing=not args.all
        )
        # autograde on the cluster; feedback, grades.csv and the TA summary here, all on
        # the one gradebook
        grade.grade_assignment(GradingContext.of(args.course, db_url=args.db_url), grade=on_slurm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
