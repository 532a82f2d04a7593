"""The ``cnnkit`` command line: ``doctor``, ``data status|fetch|import``, ``course ...``,
``backbone pretrain``."""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from cnnkit.data.errors import DataFormatError, DataNotFoundError
from cnnkit.renames import print_renamed


def _data_status(args: argparse.Namespace) -> int:
    from cnnkit.data import DATASETS, data_dir, find, is_offline
    from cnnkit.data.store import verified_content

    print(f"Data cache: {data_dir()}{'  (CNNKIT_OFFLINE=1)' if is_offline() else ''}")
    problems = 0
    for spec in DATASETS.values():
        located = find(spec)
        if located is None:
            print(f"  {spec.name:<14} missing      cnnkit data fetch {spec.name}  |  "
                  f"cnnkit data import {spec.name} PATH")
            continue
        state = "found"
        if args.verify:
            try:
                for file in located.form.files:
                    verified_content(located.paths[file.name], file, located.form.kind)
                state = "verified"
            except DataFormatError as error:
                state, problems = "CORRUPT", problems + 1
                print(f"  {error}")
        folder = next(iter(located.paths.values())).parent
        print(f"  {spec.name:<14} {state:<12} {located.form.kind} in {folder} ({located.origin})")
    return 1 if problems else 0


def _data_fetch(args: argparse.Namespace) -> int:
    from cnnkit.data import DATASETS, fetch, get_spec

    names = list(DATASETS) if args.name == "all" else [args.name]
    failed = 0
    for name in names:
        try:
            located = fetch(get_spec(name))
            print(f"{name}: ready ({located.form.kind}, {located.origin}) in "
                  f"{next(iter(located.paths.values())).parent}")
        except DataNotFoundError as error:
            failed += 1
            print(f"{name}: {error}", file=sys.stderr)
    return 1 if failed else 0


def _data_import(args: argparse.Namespace) -> int:
    from cnnkit.data import find, get_spec, import_files
    from cnnkit.data.store import missing_message

    spec = get_spec(args.name)
    written = import_files(spec, args.path)
    for path in written:
        print(f"imported {path}")
    located = find(spec)
    if located is None or located.origin != "CNNKIT_DATA_DIR":
        print("Not complete yet.\n" + missing_message(spec), file=sys.stderr)
        return 1
    print(f"{spec.name} is complete ({located.form.kind}).")
    return 0


def _course_build(args: argparse.Namespace) -> int:
    from cnnkit.course import build_labs

    build_labs(Path(args.course), args.lab or None)
    print("labs/ regenerated and audited: no solutions, hidden tests or outputs.")
    return 0


def _course_audit(args: argparse.Namespace) -> int:
    from cnnkit.course.release import audit_release, execute_solutions, stale_labs

    if args.course_command == "check":
        print_renamed("`cnnkit course check`", "`cnnkit course audit`")
    root = Path(args.course)
    problems = audit_release(root) + [f"labs/{lab} is out of date: run `cnnkit course build`"
                                      for lab in stale_labs(root)]
    failures, skipped = execute_solutions(root)
    problems += failures
    for line in skipped:
        print(line)
    for problem in problems:
        print(problem, file=sys.stderr)
    runs = "every solution runs (smoke)" if not skipped else (
        f"every solution that could run here runs (smoke); {len(skipped)} skipped for data")
    print(f"labs/ is in sync with solutions/, leaks nothing, and {runs}."
          if not problems else f"{len(problems)} problem(s).")
    return 1 if problems else 0


def _course_grade(args: argparse.Namespace) -> int:
    from cnnkit.course import grade_lab, summary_table
    from cnnkit.course.gradebook import gradebook_url
    from cnnkit.course.limits import GradeLimits
    from cnnkit.course.reports import answers_to_grade
    from cnnkit.course.sandbox import SandboxUnavailable

    limits = GradeLimits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                         memory_gb=args.memory_gb, cpu_seconds=args.cpu_seconds,
                         max_processes=args.max_processes, disk_mb=args.disk_mb,
                         open_files=args.open_files, sandbox=not args.no_sandbox)
    if not limits.sandbox:
        print("warning: --no-sandbox: student code runs not isolated, as you, able to read and "
              "change your files and other students' grades.", file=sys.stderr)
    try:
        results = grade_lab(Path(args.course), args.lab, args.student or None, jobs=args.jobs,
                            limits=limits, db_url=args.db, record_missing=args.record_missing,
                            cluster=args.cluster)
    except SandboxUnavailable as error:
        print(f"cnnkit course grade: refusing to run student code without isolation: {error}",
              file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the grader itself broke: exit 2, not 1
        print(f"cnnkit course grade: the grader failed ({type(error).__name__}: {error}); no "
              "student was penalised for it.", file=sys.stderr)
        return 2
    print(summary_table(results))
    graded = [result for result in results if not result.absent]
    with_problems = sum(1 for result in graded if result.problems)
    print(f"\n{len(graded)} graded, {with_problems} with problems.")
    waiting = answers_to_grade(gradebook_url(Path(args.course), args.db), args.lab) if graded else {}
    if waiting:
        print(f"{sum(waiting.values())} written answer(s) of {len(waiting)} student(s) wait for you "
              "in Formgrader (Manual Grading); until then the scores above leave them out.")
    absent = [result.student for result in results if result.absent]
    if absent:
        print(f"{len(absent)} student(s) have no submission folder here and were not graded; "
              f"their grades, if any, are kept: {', '.join(absent[:10])}"
              f"{' ...' if len(absent) > 10 else ''}."
              + ("" if args.record_missing else
                 " --record-missing gives a 0 to those who have no grade yet."))
    return 1 if with_problems else 0


def _course_collect(args: argparse.Namespace) -> int:
    from cnnkit.course import collect

    report = collect(Path(args.course), args.lab, Path(args.source), args.pattern)
    print(report.text())
    return 1 if report.unmatched else 0


def _course_feedback(args: argparse.Namespace) -> int:
    from cnnkit.course import generate_feedback

    files = generate_feedback(Path(args.course), args.lab, args.student, db_url=args.db)
    for file in files:
        print(file)
    print(f"{len(files)} feedback file(s) in feedback/")
    return 0


def _course_export(args: argparse.Namespace) -> int:
    from cnnkit.course import export_grades
    from cnnkit.course.gradebook import gradebook_url

    rows = export_grades(gradebook_url(Path(args.course), args.db), Path(args.output))
    print(f"wrote {rows} rows to {args.output}")
    return 0


def _course_report(args: argparse.Namespace) -> int:
    from cnnkit.course.class_report import write_report
    from cnnkit.course.gradebook import gradebook_url

    root = Path(args.course)
    output = Path(args.output or root / "reports" / f"{args.lab}.html")
    write_report(gradebook_url(root, args.db), root, args.lab, output)
    print(f"wrote {output}")
    return 0


def _course_stamp(args: argparse.Namespace) -> int:
    from cnnkit.course.colab import STAMP_FIX, read_settings, stamp_course

    root = Path(args.course)
    results = stamp_course(root, check=args.check)
    stale = [result for result in results if result.changed]
    for result in stale:
        where = result.path.resolve().relative_to(root.resolve())
        stream = sys.stderr if args.check else sys.stdout
        print(f"{where}: {'; '.join(result.reasons)}", file=stream)
    settings = read_settings(root)
    pinned = f"cnnkit {settings.version}, {settings.repository}, branch {settings.branch}"
    if args.check:
        print(f"{len(stale)} notebook(s) out of date. Fix: {STAMP_FIX}." if stale else
              f"All {len(results)} notebooks carry the Colab badge and setup cell for {pinned}.")
        return 1 if stale else 0
    print(f"{len(stale)} notebook(s) stamped, {len(results) - len(stale)} already up to date "
          f"({pinned}).")
    if any(result.path.parent.parent.name == "solutions" for result in stale):
        print("solutions/ changed: run `./kit labs` to regenerate labs/.")
    return 0


def _course_publish(args: argparse.Namespace) -> int:
    from cnnkit.course.publish import PublishError, publish_edition

    if not (args.destination or args.branch or args.push):
        print("cnnkit course publish: say where: a folder (DEST), --branch NAME or --push.",
              file=sys.stderr)
        return 2
    try:
        edition = publish_edition(Path(args.course), Path(args.destination) if args.destination
                                  else None, branch=args.branch, push=args.push,
                                  preview=args.preview)
    except PublishError as error:
        print(f"cnnkit course publish: {error}", file=sys.stderr)
        return 1
    print(f"Student edition ({len(edition.files)} files, audited: no solutions, hidden tests, "
          f"tests or benchmarks) written to {edition.destination}.")
    return 0


DB_HELP = ("gradebook URL, e.g. postgresql://user@host/course (default: c.CourseDirectory.db_url "
           "in the course's nbgrader_config.py, else sqlite:///COURSE/gradebook.db)")


def _add_course_commands(commands) -> None:  # noqa: ANN001 - argparse's subparsers action
    course = commands.add_parser(
        "course",
        help="instructors: build, audit, stamp, publish, collect, grade, feedback, report, export")
    course.add_argument("--course", default=".", help="the course folder (default: here)")
    course.add_argument("--db", default=None, metavar="URL", help=DB_HELP)
    actions = course.add_subparsers(dest="course_command", required=True, metavar="ACTION")
    _add_release_actions(actions)
    _add_grade_action(actions)
    _add_result_actions(actions)


def _add_release_actions(actions: argparse._SubParsersAction) -> None:
    """build, audit, stamp, publish: what students get, and its audit."""
    build = actions.add_parser("build", help="regenerate labs/ from solutions/ and audit it")
    build.add_argument("lab", nargs="*", help="labs to build (default: all)")
    build.set_defaults(handler=_course_build)
    audit = actions.add_parser(
        "audit", aliases=["check"],
        help="labs/ in sync and leaking nothing; every solution runs in the smoke profile")
    audit.set_defaults(handler=_course_audit)
    stamp = actions.add_parser(
        "stamp", help="write the Open-in-Colab badge and Colab setup cell into every notebook")
    stamp.add_argument("--check", action="store_true",
                       help="change nothing; exit 1 listing the notebooks that are out of date")
    stamp.set_defaults(handler=_course_stamp)
    publish = actions.add_parser(
        "publish", help="write the student edition (no solutions, hidden tests, tests or bench)")
    publish.add_argument("destination", nargs="?", default=None,
                         help="a new folder (or an earlier edition) to write it to")
    publish.add_argument("--branch", default=None,
                         help="also commit it to this branch of the course repository")
    publish.add_argument("--push", action="store_true",
                         help="push it, tagged vVERSION, to the student repository "
                              "([tool.cnnkit] student_remote, else [project.urls] Repository)")
    publish.add_argument("--preview", action="store_true",
                         help="allow the placeholder Repository address (a folder to look at)")
    publish.set_defaults(handler=_course_publish)


def _add_grade_action(actions: argparse._SubParsersAction) -> None:
    """grade, with the limits of `GradeLimits` (its defaults are the command's)."""
    from cnnkit.course.limits import GradeLimits

    grade = actions.add_parser("grade", help="autograde a lab, in parallel, under limits")
    grade.add_argument("lab", help="the lab, e.g. lab1-convolution")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--jobs", type=int, default=1,
                       help="grading worker processes on this machine (default 1)")
    grade.add_argument("--cluster", default=None, metavar="ADDRESS",
                       help="grade on the workers of a running Dask cluster instead, e.g. "
                            "tcp://scheduler:8786 (see the README: several machines)")
    defaults = GradeLimits()  # the one home of the defaults; the help texts quote them
    grade.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout,
                       help=f"seconds per cell (default {defaults.cell_timeout})")
    grade.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout,
                       help="seconds per student before grading is stopped "
                            f"(default {defaults.notebook_timeout})")
    grade.add_argument("--memory-gb", type=float, default=defaults.memory_gb,
                       help="address-space limit of each grading kernel process in GiB "
                            f"(default {defaults.memory_gb:g})")
    grade.add_argument("--cpu-seconds", type=int, default=defaults.cpu_seconds,
                       help=f"CPU time of each kernel process (default {defaults.cpu_seconds})")
    grade.add_argument("--max-processes", type=int, default=defaults.max_processes,
                       help="processes and threads a student's code may run at once "
                            f"(default {defaults.max_processes})")
    grade.add_argument("--disk-mb", type=int, default=defaults.disk_mb,
                       help="size of the student's writable folder in the sandbox, MiB "
                            f"(default {defaults.disk_mb})")
    grade.add_argument("--open-files", type=int, default=defaults.open_files,
                       help=f"open files per kernel process (default {defaults.open_files})")
    grade.add_argument("--record-missing", action="store_true",
                       help="give a 0 to enrolled students with no submission folder here and no "
                            "grade yet (never replaces an existing grade)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="grade even where student code cannot be isolated (no bubblewrap or "
                            "no user namespaces): it then runs as you; every row says so")
    grade.add_argument("--db", dest="db_here", default=None, metavar="URL", help=DB_HELP)
    grade.set_defaults(handler=_course_grade)


def _add_result_actions(actions: argparse._SubParsersAction) -> None:
    """collect (submissions in), feedback, report and export (results out)."""
    from cnnkit.course.collect import DEFAULT_PATTERN

    collect = actions.add_parser("collect", help="copy submissions into submitted/STUDENT/LAB/")
    collect.add_argument("lab", help="the lab, e.g. lab1-convolution")
    collect.add_argument("source", help="a folder with one sub-folder per student, or an LMS .zip")
    collect.add_argument("--pattern", default=DEFAULT_PATTERN,
                         help="regex with groups 'student' and 'file' for flat file names "
                              "(default: STUDENT_[late_][NUMBERS_]FILE, as LMS exports name them)")
    collect.set_defaults(handler=_course_collect)
    feedback = actions.add_parser("feedback", help="HTML feedback per graded student")
    feedback.add_argument("lab", help="the lab, e.g. lab1-convolution")
    feedback.add_argument("--student", action="append", help="only this student (repeatable)")
    feedback.add_argument("--db", dest="db_here", default=None, metavar="URL", help=DB_HELP)
    feedback.set_defaults(handler=_course_feedback)
    report = actions.add_parser(
        "report", help="one HTML page: score distribution, pass rate and top failures per test")
    report.add_argument("lab", help="the lab, e.g. lab1-convolution")
    report.add_argument("--output", default=None,
                        help="the HTML file to write (default: COURSE/reports/LAB.html)")
    report.add_argument("--db", dest="db_here", default=None, metavar="URL", help=DB_HELP)
    report.set_defaults(handler=_course_report)
    export = actions.add_parser("export", help="write every grade to a CSV file")
    export.add_argument("output", help="the CSV file to write, e.g. grades.csv")
    export.add_argument("--db", dest="db_here", default=None, metavar="URL", help=DB_HELP)
    export.set_defaults(handler=_course_export)


def _backbone_pretrain(args: argparse.Namespace) -> int:
    from cnnkit.backbones import SHIPPED_RECORD, pretrain_digits_backbone

    record = pretrain_digits_backbone(args.output, args.epochs, args.stop_after)
    accuracy = record["source_test_accuracy_per_epoch"]
    print(f"Wrote {args.output} and {SHIPPED_RECORD.name} beside it: {record['epochs_run']} "
          f"epoch(s) in {record['train_seconds']:.0f} s, test accuracy on the digits 0-4 "
          f"{accuracy[-1]:.2%}.")
    return 0


def _add_backbone_commands(commands: argparse._SubParsersAction) -> None:
    from cnnkit.backbones import SHIPPED_WEIGHTS

    backbone = commands.add_parser("backbone", help="Lab 4's pre-trained digits backbone")
    actions = backbone.add_subparsers(dest="backbone_command", required=True, metavar="ACTION")
    pretrain = actions.add_parser(
        "pretrain", help="regenerate the shipped backbone weights (MNIST digits 0-4)")
    pretrain.add_argument("--output", default=str(SHIPPED_WEIGHTS),
                          help="weights file to write (default: the one cnnkit ships)")
    pretrain.add_argument("--epochs", type=int, default=None,
                          help="length of the schedule (default: the recorded recipe's)")
    pretrain.add_argument("--stop-after", type=int, default=None,
                          help="stop after this many epochs of the schedule")
    pretrain.set_defaults(handler=_backbone_pretrain)


def _validate(args: argparse.Namespace) -> int:
    from cnnkit.student.validate import validate_notebook

    if args.command == "check":
        print_renamed("`cnnkit check`", "`cnnkit validate`")
    report = validate_notebook(args.notebook, cell_timeout=args.cell_timeout)
    print(report.table())
    return 0 if report.earned == report.possible and not report.problems else 1


def _submit(args: argparse.Namespace) -> int:
    from cnnkit.student.submit import find_notebook, submit, unfinished_work

    archive = submit(args.lab, student=args.student, output=args.output)
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
    print(f"Wrote {archive} ({archive.stat().st_size / 1e6:.1f} MB): {', '.join(names)}.\n"
          "Hand in this one file; your instructor's `cnnkit course collect` reads it as it is.")
    unfinished = unfinished_work(find_notebook(args.lab))
    if unfinished:
        print(f"warning: {len(unfinished)} part(s) look unfinished in the notebook you packed "
              "(it was packed all the same; finish and submit again if you can):", file=sys.stderr)
        for line in unfinished:
            print(f"  {line}", file=sys.stderr)
        print("`cnnkit validate NOTEBOOK` runs the visible tests as the grader does.", file=sys.stderr)
    return 0


def _add_student_commands(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate", aliases=["check"],
        help="run a lab's visible tests in a fresh kernel, as nbgrader's Validate button; a table "
             "per exercise")
    validate.add_argument("notebook",
                          help="the lab notebook, e.g. labs/lab1-convolution/lab1-convolution.ipynb")
    validate.add_argument("--cell-timeout", type=int, default=300,
                          help="seconds per cell (default 300)")
    validate.set_defaults(handler=_validate)
    submit = commands.add_parser(
        "submit", help="pack a lab's notebook and saved weights into STUDENT_LAB.zip")
    submit.add_argument("lab", help="the lab's name (e.g. lab2-mnist), folder or notebook")
    submit.add_argument("--student", default=None,
                        help="your student id (default: $JUPYTERHUB_USER); no '_' or spaces")
    submit.add_argument("--output", default=None, help="folder for the archive (default: the lab's)")
    submit.set_defaults(handler=_submit)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``cnnkit`` command."""
    from cnnkit.data import DATASETS

    parser = argparse.ArgumentParser(prog="cnnkit", description="The cnnkit course kit.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="check versions, backend, GPU, data and profile")
    doctor.set_defaults(handler=lambda args: __import__("cnnkit.env").env.doctor())

    _add_student_commands(commands)
    _add_course_commands(commands)
    _add_backbone_commands(commands)
    data = commands.add_parser("data", help="the data cache: status, fetch, import")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    status = data_commands.add_parser("status", help="where each data set was found")
    status.add_argument("--verify", action="store_true", help="also check every sha256")
    status.set_defaults(handler=_data_status)
    fetch = data_commands.add_parser("fetch", help="download a data set into the cache")
    fetch.add_argument("name", choices=[*DATASETS, "all"], help="data set to download")
    fetch.set_defaults(handler=_data_fetch)
    imports = data_commands.add_parser(
        "import", help="copy a data set's original files into the cache, verifying each")
    imports.add_argument("name", choices=list(DATASETS), help="data set")
    imports.add_argument("path", help="a folder of the files, or an archive (.tar.gz, .tgz, .zip)")
    imports.set_defaults(handler=_data_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnnkit`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "db_here", None):  # `course grade LAB --db URL` as well as `course --db URL ...`
        args.db = args.db_here
    try:
        return args.handler(args)
    except (DataFormatError, DataNotFoundError, ValueError) as error:
        print(f"cnnkit: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:
        print(f"cnnkit: {error}. Fix: make the folder writable, or point CNNKIT_DATA_DIR at a "
              "folder you can write to.", file=sys.stderr)
        return 2
