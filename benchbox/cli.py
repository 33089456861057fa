"""The ``benchbox`` command line. Heavy modules are imported inside the command that needs them, so
``benchbox --help`` and ``benchbox models`` stay instant and never import torch."""

from __future__ import annotations

import argparse
import errno
import logging
import re
import shlex
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


def _bounded(kind: type, description: str, accept):
    """argparse type: parse ``kind`` and require ``accept(value)``, else say what was expected."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    return parse


_positive_int = _bounded(int, "a positive integer", lambda v: v >= 1)
_device = _bounded(str, "auto, cpu, cuda or cuda:N", lambda v: re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None)
_non_negative_int = _bounded(int, "an integer >= 0", lambda v: v >= 0)
_positive_float = _bounded(float, "a positive number", lambda v: v > 0)
_probability = _bounded(float, "a number in (0, 1)", lambda v: 0 < v < 1)


#: Commands whose usage and file errors exit with 4 (their 1 to 3 mean regressions and "not comparable").
GATE_COMMANDS = ("baseline", "check", "compare")
GATE_USAGE_EXIT = 4


def _gate_usage_error(parser: argparse.ArgumentParser, message: str) -> None:
    parser.print_usage(sys.stderr)
    parser.exit(GATE_USAGE_EXIT, f"{parser.prog}: error: {message}\n")


def _add_gate_commands(commands) -> None:
    baseline = commands.add_parser("baseline", help="write a run's regression baseline (scores, per-session "
                                                    "sums, timings, machine) to commit to your repository")
    baseline.add_argument("run_dir")
    baseline.add_argument("--out", required=True, metavar="FILE.json", help="baseline file to write")
    check = commands.add_parser("check", help="check a run against a baseline file: score and speed regressions "
                                              "(exit 0 pass, 1 score, 2 speed, 3 not comparable, 4 usage)")
    check.add_argument("run_dir")
    check.add_argument("--against", required=True, metavar="FILE.json", help="baseline from `benchbox baseline`")
    compare = commands.add_parser("compare", help="compare two run folders with the rules of `check` "
                                                  "(the first is the baseline)")
    compare.add_argument("base_run_dir")
    compare.add_argument("run_dir")
    for sub in (check, compare):
        sub.add_argument("--config", metavar="FILE.toml",
                         help="thresholds ([check] table), over the suite's [check] and pyproject's "
                              "[tool.benchbox.check]")
        sub.add_argument("--alpha", type=_probability, default=None, help="significance level (default 0.05)")
        sub.add_argument("--strict", action="store_true", help="fail on suspect changes too")
        sub.add_argument("--no-speed", action="store_true", help="check scores only")
        sub.add_argument("--allow-missing", action="store_true",
                         help="a model of the baseline that the run lacks does not fail the check")
        sub.add_argument("--warn-only", action="store_true", help="report, but always exit 0")
        sub.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown (appended to FILE, "
                                                            "e.g. $GITHUB_STEP_SUMMARY)")
    for sub in (baseline, check, compare):
        sub.error = lambda message, sub=sub: _gate_usage_error(sub, message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchbox",
        description="Benchmark suite for time-continuous multimodal emotion recognition (RECOLA / AVEC 2016).",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages; show tracebacks of storage errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a suite: fit, predict, score every model; write a report")
    run.add_argument("--suite", default="avec2016", help="built-in suite name or path to a suite .toml")
    run.add_argument("--data-root", help="AVEC 2016-layout corpus (default: $BENCHBOX_RECOLA, else the "
                                         "embedded synthetic corpus)")
    run.add_argument("--models", help="comma-separated model names (default: the suite's, i.e. all installed)")
    run.add_argument("--seeds", type=_positive_int, help="number of seeds per model (0..N-1)")
    run.add_argument("--out", help="run folder (default: benchbox-runs/<suite>-<partition>-<fingerprint>); "
                                   "an existing one is resumed")
    run.add_argument("--device", default="auto", type=_device,
                     help="auto (default: cuda when torch sees a GPU, else cpu; the run record says which), cpu, "
                          "cuda (each GPU-hungry unit gets a GPU of its own) or cuda:N")
    run.add_argument("--partition", dest="test_split",
                     help="split to score on instead of the suite's (e.g. test, where your package has labels)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--jobs", type=_positive_int, default=None,
                     help="CPU cores the run uses at a time (default: all): feature extraction per session and "
                          "the units run in parallel, each unit on the CPUs its model declares (e2e models: up "
                          "to 4), each feature job on one")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local (default: units and feature jobs in processes on this machine, on --jobs cores) "
                          "or ray (as Ray tasks, scheduled by the resources each model declares; needs "
                          "benchbox[ray])")
    run.add_argument("--ray-address", metavar="ADDRESS",
                     help="Ray cluster to join with --executor ray (default: start a local Ray instance)")
    run.add_argument("--retries", type=_non_negative_int, default=None,
                     help="times a unit whose process or worker is killed is started again (default: 0 local, 2 ray)")
    run.add_argument("--unit-timeout", type=_positive_float, default=None, metavar="SECONDS",
                     help="end a unit that runs longer than this (it is marked failed; the run goes on)")
    run.add_argument("--unit-memory-gb", type=_positive_float, default=None, metavar="GB",
                     help="address-space limit of a unit's process (it fails alone when it needs more)")
    run.add_argument("--timing-repeats", type=_positive_int, default=1, metavar="R",
                     help="run predict R times on the scored sessions and time each call (default 1), so that "
                          "`benchbox check` can test speed changes")
    run.add_argument("--profile", action="store_true",
                     help="write a profiler trace of every fit and predict into the unit folders (torch "
                          "profiler for torch models, cProfile for the others)")
    run.add_argument("--option", action="append", default=[], metavar="MODEL.KEY=VALUE",
                     help="keyword argument for a model's factory, over the suite's [models.options.MODEL] "
                          "(repeatable; VALUE is read as a TOML value, else as text), e.g. "
                          "e2e-video.visual_pretrained_weights=/data/resnet50.pth")

    data = commands.add_parser("data", help="corpus tools: synth, check")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    synth = data_commands.add_parser("synth", help="write a synthetic RECOLA-shaped corpus (AVEC 2016 layout)")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--train", type=_non_negative_int, default=9, help="train sessions (default 9)")
    synth.add_argument("--dev", type=_non_negative_int, default=9, help="dev sessions (default 9)")
    synth.add_argument("--test", type=_non_negative_int, default=9, help="test sessions (default 9)")
    synth.add_argument("--seconds", type=_positive_float, default=300.0, help="seconds per session (default 300)")
    synth.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    synth.add_argument("--workers", type=_positive_int, help="processes (default: up to 2)")
    check = data_commands.add_parser("check", help="validate a corpus and print its manifest and fingerprint")
    check.add_argument("root", help="corpus root (AVEC 2016 layout)")
    check.add_argument("--targets", default="arousal,valence", help="label folders to check")
    check.add_argument("--tolerance-frames", type=_non_negative_int, default=None,
                       help="allowed label/media duration difference in 40 ms frames (default 5)")
    check.add_argument("--suite", default="avec2016",
                       help="also check that this suite's partitions resolve on the corpus, as `run` does "
                            "(built-in suite name or path to a suite .toml; default avec2016)")

    board = commands.add_parser("leaderboard", help="build a static leaderboard site from run folders")
    board.add_argument("paths", nargs="+", metavar="RUN_DIR_OR_FOLDER",
                       help="run folders, or folders searched (recursively) for run folders")
    board.add_argument("--out", required=True, help="site folder (index.html, leaderboard.csv, leaderboard.json)")
    board.add_argument("--references", action="append", default=[], metavar="FILE",
                       help="extra published-results file (TOML, the format of leaderboards/avec2016.toml); "
                            "repeatable")
    board.add_argument("--alpha", type=_probability, default=0.05, help="significance level of the ranks")

    _add_gate_commands(commands)
    commands.add_parser("models", help="list installed model plugins")
    commands.add_parser("suites", help="list built-in suites")
    report = commands.add_parser("report", help="re-render the report of a finished run folder")
    report.add_argument("run_dir")
    stats = commands.add_parser("stats", help="recompute the statistics (and report) of a finished run "
                                              "without re-running models")
    stats.add_argument("run_dir")
    stats.add_argument("--alpha", type=_probability, default=0.05, help="significance level (default 0.05)")
    stats.add_argument("--resamples", type=_positive_int, default=9_999,
                       help="random swaps of a randomisation test with more than 20 units (default 9999)")
    return parser


def parse_model_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["e2e-video.max_epochs=3", ...]`` -> ``{"e2e-video": {"max_epochs": 3}}``.

    VALUE is read as a TOML value (``3``, ``1e-4``, ``true``, ``"text"``, ``[1, 2]``); anything that is not
    one (a path, a bare word) is kept as text.

    Example:
        >>> parse_model_options(["e2e-av.preset=paper", "e2e-av.max_epochs=3", "e2e-av.compile=true"])
        {'e2e-av': {'preset': 'paper', 'max_epochs': 3, 'compile': True}}
    """
    from benchbox.errors import BenchboxError

    options: dict[str, dict[str, Any]] = {}
    for item in items:
        left, sep, text = item.partition("=")
        model, dot, key = left.strip().rpartition(".")
        if not sep or not dot or not model or not key.isidentifier():
            raise BenchboxError(f"--option {item!r}: expected MODEL.KEY=VALUE (e.g. e2e-video.max_epochs=3).")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        options.setdefault(model, {})[key] = value
    return options


def _cmd_run(args) -> int:
    from benchbox.corpus.avec2016 import load_corpus
    from benchbox.corpus.default import embedded_corpus_root, ensure_embedded_corpus, resolve_data_root
    from benchbox.environment import device_description, resolve_device
    from benchbox.errors import BenchboxError
    from benchbox.runner import RunConfig, run_suite
    from benchbox.suites import load_suite

    suite = load_suite(args.suite)
    if args.option:
        suite = suite.with_model_options(parse_model_options(args.option))
    requested = None
    if args.models is not None:
        requested = [m.strip() for m in args.models.split(",") if m.strip()]
        if not requested:
            raise BenchboxError(f"--models {args.models!r} names no model; give comma-separated names "
                                f"(benchbox models lists them), or leave --models out to run the suite's default.")
    root, notice = resolve_data_root(args.data_root, suite.embedded_corpus)
    print(notice, file=sys.stderr)
    if root == embedded_corpus_root(suite.embedded_corpus):
        ensure_embedded_corpus(progress=not args.no_progress, embedded=suite.embedded_corpus)
    corpus = load_corpus(root, targets=suite.targets, tolerance_frames=suite.tolerance_frames)
    device = resolve_device(args.device)
    if args.device == "auto":
        print(f"Device: {device_description(device)} (--device auto).", file=sys.stderr)
    seeds = list(range(args.seeds or suite.default_seeds))
    config = RunConfig.create(suite, corpus, models=requested, seeds=seeds, out_dir=args.out, device=device,
                              test_split=args.test_split, progress=not args.no_progress,
                              command=shlex.join(["benchbox", *sys.argv[1:]]), jobs=args.jobs,
                              executor=args.executor, ray_address=args.ray_address, retries=args.retries,
                              unit_timeout_s=args.unit_timeout,
                              unit_memory_mb=int(args.unit_memory_gb * 1024) if args.unit_memory_gb else None,
                              timing_repeats=args.timing_repeats, profile=args.profile)
    print(f"Running suite {suite.name} v{suite.version}: {len(config.models)} model(s) x {len(seeds)} seed(s) "
          f"on {corpus.description} -> {config.out_dir}", file=sys.stderr)
    summary = run_suite(config)
    print(f"finished: {len(summary.done)}, resumed (already done): {len(summary.skipped)}, "
          f"failed: {len(summary.failed)}")
    for model, seed, error in summary.failed:
        print(f"  FAILED {model} seed {seed}: {error}")
    _print_leaderboard(summary.run_dir)
    print(f"run folder: {summary.run_dir}")
    if summary.report_path:
        print(f"report: {summary.report_path}")
    if summary.leaderboard_path:
        print(f"leaderboard of {summary.run_dir.parent}: {summary.leaderboard_path}")
    return 1 if summary.failed else 0


def _print_leaderboard(run_dir: Path) -> None:
    from benchbox.record import HEADLINE_COLUMN, RunFolder

    folder = RunFolder(run_dir)
    run = folder.read_run()
    board = folder.leaderboard()
    columns = [f"{t}/ccc/global" for t in run.targets]
    if board.empty or not all(c in board for c in columns):
        return
    table = board.set_index("model")[[*columns, HEADLINE_COLUMN]]
    table.columns = [*run.targets, "mean"]
    table.index.name = "model"
    print(f"\nGlobal CCC on {run.test_split} (mean over seeds):")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print()


def _cmd_data_synth(args) -> int:
    from tqdm.auto import tqdm

    from benchbox.corpus.synth import synthesize

    total = args.train + args.dev + args.test
    with tqdm(total=total, desc="synthesizing", unit="session") as bar:
        out = synthesize(args.out, train=args.train, dev=args.dev, test=args.test, seconds=args.seconds,
                         seed=args.seed, workers=args.workers, progress=lambda _sid: bar.update(1))
    print(f"wrote synthetic RECOLA-shaped corpus ({total} sessions x {args.seconds:g} s) to {out}")
    return 0


def _cmd_data_check(args) -> int:
    from benchbox.corpus.avec2016 import DEFAULT_TOLERANCE_FRAMES, scan_corpus
    from benchbox.corpus.manifest import format_manifest

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    tolerance = DEFAULT_TOLERANCE_FRAMES if args.tolerance_frames is None else args.tolerance_frames
    scan = scan_corpus(args.root, targets=targets, tolerance_frames=tolerance)
    print(format_manifest(scan))
    if scan.all_problems or not scan.sessions:
        return 1
    problem = _suite_problem(args.suite, args.root, targets, tolerance)
    if problem:
        print(f"\nPROBLEM for `benchbox run --suite {args.suite}`: {problem}")
        return 1
    return 0


def _suite_problem(suite_name: str, root, targets: tuple[str, ...], tolerance: int) -> str | None:
    """What `benchbox run --suite SUITE` would refuse on a corpus that scanned clean (a missing dev split, a
    train split too small for the select slice), or None."""
    from benchbox.corpus.avec2016 import load_corpus
    from benchbox.errors import SuiteError
    from benchbox.suites import load_suite

    suite = load_suite(suite_name)
    missing = [t for t in suite.targets if t not in targets]
    if missing:
        return f"the suite scores {', '.join(missing)}, which --targets leaves out."
    try:
        suite.partitions(load_corpus(root, targets=suite.targets, tolerance_frames=tolerance))
    except SuiteError as exc:
        return str(exc)
    return None


def _cmd_models(args) -> int:
    from benchbox.errors import RegistryError
    from benchbox.registry import model_entry_points, model_info, model_names, refused_model_names

    table = [("name", "modalities", "package", "description")]
    for name in model_names():
        try:
            info = model_info(name)
        except RegistryError as exc:  # a broken plugin is listed, not fatal
            ep = model_entry_points()[name]
            table.append((name, "?", ep.dist.name if ep.dist else "?", f"BROKEN: {exc}"))
            continue
        table.append((info.name, "+".join(info.modalities) or "-", info.package, info.description))
    table += [(name, "?", "?", f"REFUSED: {problem}") for name, problem in refused_model_names().items()]
    if len(table) == 1:
        print("No model plugins installed.")
        return 0
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))
    return 0


def _cmd_suites(args) -> int:
    from benchbox.suites import builtin_suite_names, load_suite

    for name in builtin_suite_names():
        suite = load_suite(name)
        print(f"{suite.name}  v{suite.version}  {suite.description}")
    return 0


def _cmd_report(args) -> int:
    from benchbox.report_hooks import write_reports
    from benchbox.runner import score_run

    score_run(args.run_dir)  # scores are derived from the stored predictions, never trusted
    path = write_reports(Path(args.run_dir))
    print(f"report: {path}")
    return 0


def _cmd_leaderboard(args) -> int:
    from benchbox.leaderboard import write_leaderboard

    path = write_leaderboard(args.paths, args.out, references=args.references, alpha=args.alpha)
    print(f"leaderboard: {path}")
    return 0


def _cmd_stats(args) -> int:
    from benchbox.record import RunFolder
    from benchbox.runner import finish_run

    folder = RunFolder(args.run_dir)
    path = finish_run(folder.root, alpha=args.alpha, resamples=args.resamples)
    stats = folder.read_stats()
    for family in stats.families:
        print(f"{family.name} ({family.test}, {family.alternative}, Holm over {family.size}):")
        for comparison in family.comparisons:
            print(f"  {comparison.sentence}")
    for note in stats.notes:
        print(f"note: {note}")
    print(f"stats: {folder.stats_path}")
    print(f"report: {path}")
    return 0


def _cmd_baseline(args) -> int:
    from benchbox.gate import Baseline

    baseline = Baseline.from_run(args.run_dir)
    path = baseline.write(args.out)
    print(f"baseline of {len(baseline.models)} model(s) ({', '.join(baseline.models)}) on "
          f"{baseline.key.suite} v{baseline.key.suite_version}, {len(baseline.key.sessions)} "
          f"{baseline.key.partition} sessions, machine {baseline.machine_id}: {path}")
    return 0


def _cmd_check(args) -> int:
    from benchbox.gate import Baseline

    return _gate(Baseline.read(args.against), args.run_dir, args, title=f"benchbox check {args.run_dir} "
                                                                        f"--against {args.against}")


def _cmd_compare(args) -> int:
    from benchbox.gate import Baseline

    return _gate(Baseline.from_run(args.base_run_dir), args.run_dir, args,
                 title=f"benchbox compare {args.base_run_dir} {args.run_dir}")


def _gate(base, run_dir: str, args, *, title: str) -> int:
    import dataclasses

    from benchbox.gate import Baseline, compare_baselines, load_thresholds, render_markdown, render_text
    from benchbox.record import RunFolder

    run = RunFolder(run_dir).read_run()
    current = Baseline.from_run(run_dir)
    thresholds = load_thresholds(suite_definition=run.suite.definition, suite_source=f"suite {run.suite.name}",
                                 config=args.config)
    if args.alpha is not None:
        thresholds = dataclasses.replace(thresholds, alpha=args.alpha, sources=(*thresholds.sources, "--alpha"))
    result = compare_baselines(base, current, thresholds, speed=not args.no_speed)
    flags = {"strict": args.strict, "allow_missing": args.allow_missing, "warn_only": args.warn_only}
    print(render_text(result, **flags))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as handle:
            handle.write(render_markdown(result, title=title, **flags))
    return result.exit_code(**flags)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from benchbox.errors import BenchboxError

    handlers = {"run": _cmd_run, "models": _cmd_models, "suites": _cmd_suites, "report": _cmd_report,
                "stats": _cmd_stats, "leaderboard": _cmd_leaderboard, "baseline": _cmd_baseline,
                "check": _cmd_check, "compare": _cmd_compare}
    error_exit = GATE_USAGE_EXIT if args.command in GATE_COMMANDS else 2
    if args.command == "data":
        handler = _cmd_data_synth if args.data_command == "synth" else _cmd_data_check
    else:
        handler = handlers[args.command]
    try:
        return handler(args)
    except BenchboxError as exc:
        print(f"benchbox: error: {exc}", file=sys.stderr)
        return error_exit
    except KeyboardInterrupt:
        print("benchbox: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS or args.verbose:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"benchbox: error: {where}{exc.strerror or exc}. What was written before is kept; "
              f"make room or use a writable folder (--out, $BENCHBOX_HOME) and rerun the same command to "
              f"resume.", file=sys.stderr)
        return error_exit if args.command in GATE_COMMANDS else 3


#: Errors of the storage rather than of benchbox: a full disk or quota, a read-only filesystem, no permission, a
#: folder that cannot be made there (`--out /proc/x`). `-v` shows the traceback instead.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                            errno.ENOTDIR})


if __name__ == "__main__":
    sys.exit(main())
