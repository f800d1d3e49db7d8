"""``vigil evaluate CLIPS_DIR``: how many labelled incidents Vigil catches on your footage, and at what cost.

    vigil evaluate my-clips/                          # labels.csv or labels.json in the folder
    vigil evaluate my-clips/ --config vigil.yaml --camera gate-3 --report out/

Runs the real pipeline (ingest decode and sampling, fusion windows and model, the configured
alert policy) on every clip as fast as the CPU allows, then prints per class and overall:
incident recall (any class, right class), false alarms per hour, alert delay (median, p95),
window AP and a confusion matrix. Writes ``evaluation.json`` and ``report.html`` (timelines and
PR curves, also as PNG files in ``pictures/``) to ``--report`` (default ``vigil-report/``). Clips that cannot be used are listed
with the reason; they never stop the run. Exit status: 0, or 2 when nothing could be evaluated.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from models.contract import ModelContractError
from models.realclips import LabelsError
from models.runtime import FusionModel
from services.evaluate.footage import ClipProblem, ScoredClip, discover, score_clips, select_policy
from services.evaluate.report import table, to_json, write_html, write_json
from services.evaluate.scoring import DEFAULT_TOLERANCE_S, evaluate
from services.fusion.runner import load_model, usable_cpus
from streaming.config import AlertPolicyConfig, ConfigError, VigilConfig, load_config
from streaming.observability import setup_logging


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``vigil evaluate`` and ``vigil calibrate``."""
    parser.add_argument(
        "clips_dir", type=Path, metavar="CLIPS_DIR", help="folder of clips with labels.csv/json"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="Vigil configuration (policy, model, windows)"
    )
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the configured one)")
    parser.add_argument(
        "--camera",
        default=None,
        help="use this camera's alert.cameras policy (default: alert.default_policy)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE_S,
        help=f"seconds an alert may miss an incident's range by and still count (default {DEFAULT_TOLERANCE_S:g})",
    )
    parser.add_argument(
        "--jobs", type=int, default=0, help="clips decoded at once (default: one per usable CPU core)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil evaluate``."""
    add_common_arguments(parser)
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("vigil-report"),
        help="folder for evaluation.json, report.html and pictures/",
    )


class ProgressBar:
    """``[#####.....] 4/10 clips, 3.2 min of footage, 25x real time`` on a terminal, lines otherwise."""

    def __init__(self, total: int, out: TextIO | None = None) -> None:
        self.total = total
        self.out = out or sys.stderr
        self.started = time.monotonic()
        self.tty = self.out.isatty()

    def __call__(self, done: int, footage_s: float) -> None:
        """Show ``done`` of ``total`` clips and the speed so far."""
        elapsed = max(1e-6, time.monotonic() - self.started)
        filled = round(20 * done / max(1, self.total))
        text = (
            f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.total} clips, "
            f"{footage_s / 60:.1f} min of footage, {footage_s / elapsed:.1f}x real time"
        )
        print(
            ("\r" if self.tty else "") + text,
            end="" if self.tty and done < self.total else "\n",
            file=self.out,
            flush=True,
        )


def prepare(
    args: argparse.Namespace, command: str
) -> tuple[VigilConfig, AlertPolicyConfig, FusionModel] | int:
    """Configuration, policy and model for ``args``, or an exit status after a clear message."""
    try:
        config = load_config(args.config) if args.config is not None else VigilConfig()
        if args.model is not None:
            config = config.model_copy(
                update={"fusion": config.fusion.model_copy(update={"model_path": args.model})}
            )
        policy = select_policy(config, args.camera)
    except ConfigError as exc:
        print(f"vigil {command}: {exc}", file=sys.stderr)
        return 2
    setup_logging("WARNING" if "log_level" not in config.model_fields_set else config.log_level)
    try:
        fc = config.fusion
        model = load_model(fc.model_path, fc.providers, fc.inference_workers)
    except (ModelContractError, OSError) as exc:
        print(f"vigil {command}: cannot load the model: {exc}", file=sys.stderr)
        return 2
    return config, policy, model


def score_folder(
    args: argparse.Namespace, command: str, config: VigilConfig, policy: AlertPolicyConfig, model: FusionModel
) -> tuple[list[ScoredClip], list[ClipProblem]] | int:
    """Discover and score the folder's clips, reporting problems per clip as they come."""
    try:
        sources, problems = discover(args.clips_dir)
    except LabelsError as exc:
        print(f"vigil {command}: {exc}", file=sys.stderr)
        return 2
    jobs = args.jobs or usable_cpus()
    print(
        f"vigil {command}: {len(sources)} clip(s) in {args.clips_dir}, model {model.contract.model_version}, "
        f"{jobs} at once",
        file=sys.stderr,
    )
    scored, more = score_clips(
        sources, config, policy, model=model, jobs=jobs, progress=ProgressBar(len(sources))
    )
    problems += more
    for p in problems:
        print(f"  {p.name}: {p.message}", file=sys.stderr)
    if not scored:
        print(f"vigil {command}: no clip could be evaluated", file=sys.stderr)
        return 2
    return scored, problems


def run(args: argparse.Namespace) -> int:
    """Evaluate the folder; see the module docstring."""
    prepared = prepare(args, "evaluate")
    if isinstance(prepared, int):
        return prepared
    config, policy, model = prepared
    started = time.monotonic()
    outcome = score_folder(args, "evaluate", config, policy, model)
    if isinstance(outcome, int):
        return outcome
    scored, problems = outcome
    elapsed = time.monotonic() - started
    clips = [s.result for s in scored]
    classes = list(model.contract.classes)
    ev = evaluate(clips, classes, args.tolerance)
    print(table(ev))
    settings = {
        "clips_dir": str(args.clips_dir),
        "config": str(args.config) if args.config else None,
        "camera": args.camera,
        "model_version": model.contract.model_version,
        "policy": policy.model_dump(),
        "wall_s": round(elapsed, 2),
        "speed_x_real_time": round(ev.footage_s / elapsed, 2) if elapsed > 0 else None,
    }
    json_path = write_json(args.report / "evaluation.json", to_json(ev, clips, problems, settings))
    html_path = write_html(args.report / "report.html", ev, clips, problems, classes)
    print(
        f"\n{ev.footage_s / 60:.1f} min of footage in {elapsed:.1f} s ({ev.footage_s / max(elapsed, 1e-6):.1f}x real time); "
        f"{len(problems)} clip problem(s)\nwrote {json_path} and {html_path}"
    )
    return 0
