"""``vigil calibrate CLIPS_DIR --max-false-alarms-per-hour X``: the alert policy for your false-alarm budget.

    vigil calibrate my-clips/ --max-false-alarms-per-hour 0.5 --config vigil.yaml -o policy.yaml
    vigil calibrate my-clips/ --max-false-alarms-per-hour 1 --camera gate-3   # a per-camera policy

Scores the clips once through the real pipeline (like ``vigil evaluate``), then chooses the anomaly
threshold, per-class thresholds and k-of-n that catch the most incidents with the right class
while false alarms stay within the budget, and checks that choice on clips it was not fitted on
(cross-validation by clip). Prints (and with ``--output`` writes) a YAML snippet for
``alert.default_policy`` or ``alert.cameras.<camera>``, with the expected recall and false alarms
per hour beside it; the other policy fields (resolve, cooldown, ...) are kept from the config.
Exit status: 0; 1 when no policy meets the budget; 2 when the clips cannot support a choice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from services.evaluate.calibrate import CalibrationClip, TooFewIncidents, calibrate, check_enough, snippet
from services.evaluate.cli import add_common_arguments, prepare, score_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil calibrate``."""
    add_common_arguments(parser)
    parser.add_argument(
        "--max-false-alarms-per-hour",
        type=float,
        required=True,
        metavar="X",
        help="the false-alarm budget per hour of footage (per camera)",
    )
    parser.add_argument("--output", "-o", type=Path, default=None, help="also write the YAML snippet here")


def run(args: argparse.Namespace) -> int:
    """Calibrate; see the module docstring."""
    if args.max_false_alarms_per_hour < 0:
        print("vigil calibrate: --max-false-alarms-per-hour must be >= 0", file=sys.stderr)
        return 2
    prepared = prepare(args, "calibrate")
    if isinstance(prepared, int):
        return prepared
    config, policy, model = prepared
    try:
        from models.realclips import read_labels

        labelled = read_labels(args.clips_dir)
        check_enough([CalibrationClip(name, 0.0, tuple(ranges), (), 0) for name, ranges in labelled.items()])
    except (TooFewIncidents, ValueError) as exc:
        print(f"vigil calibrate: {exc}", file=sys.stderr)
        return 2
    outcome = score_folder(args, "calibrate", config, policy, model)
    if isinstance(outcome, int):
        return outcome
    scored, _ = outcome
    clips = [
        CalibrationClip(s.result.name, s.result.duration_s, s.result.incidents, s.scores, s.origin_ns)
        for s in scored
    ]
    started = time.monotonic()
    try:
        result = calibrate(
            policy, clips, args.max_false_alarms_per_hour, model.contract.classes, args.tolerance
        )
    except TooFewIncidents as exc:
        print(f"vigil calibrate: {exc}", file=sys.stderr)
        return 2
    if result is None:
        print(
            f"vigil calibrate: no policy keeps false alarms within {args.max_false_alarms_per_hour:g} per hour "
            "on these clips, even the strictest searched; raise the budget or check the false alarms "
            "with `vigil evaluate`",
            file=sys.stderr,
        )
        return 1
    text = snippet(result, args.camera)
    print(f"vigil calibrate: searched in {time.monotonic() - started:.1f} s\n", file=sys.stderr)
    print(text, end="")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(
            f"\nwrote {args.output} (merge it into your configuration; check with `vigil config`)",
            file=sys.stderr,
        )
    return 0
