"""``vigil make-clip``: write a synthetic camera clip (H.264 + AAC mp4) with optional incidents.

    vigil make-clip --output incident.mp4 --duration 30 --incident 4:gunshot
    vigil make-clip --output bench.mp4 --width 1280 --height 720 --fps 30 --duration 60 \\
        --noise 6 --bitrate 3000000          # a "realistic" noisy 720p30 3 Mbit/s camera

Pictures and sound come from :func:`models.synth.clip_render.render_clip` (numpy only); this
module only encodes them, one frame at a time, like an IP camera would: no B-frames, a key
frame every two seconds, yuv420p.
"""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path

import av

from models.synth.clip_render import ClipSpec, render_clip

KEYFRAME_INTERVAL_S = 2.0


def parse_incident(text: str) -> tuple[float, str]:
    """Parse ``SECONDS[:CLASS]`` (class defaults to ``generic``)."""
    time_text, _, class_name = text.partition(":")
    try:
        time_s = float(time_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"incident {text!r}: expected SECONDS[:CLASS], e.g. 4:gunshot"
        ) from None
    return time_s, class_name or "generic"


def write_clip(spec: ClipSpec, output: Path, bitrate: int | None = None) -> int:
    """Encode the clip described by ``spec`` into ``output`` (mp4); returns the number of frames."""
    output.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    with av.open(str(output), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=spec.fps)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.time_base = Fraction(1, spec.fps)
        options: dict[str, str] = {"preset": "veryfast", "tune": "zerolatency", "bf": "0"}
        options["g"] = str(max(1, round(KEYFRAME_INTERVAL_S * spec.fps)))
        if bitrate:
            video.bit_rate = bitrate
            options["maxrate"] = str(bitrate)
            options["bufsize"] = str(2 * bitrate)
        else:
            options["crf"] = "23"
        video.options = dict(options)
        audio = None
        if spec.audio:
            audio = container.add_stream("aac", rate=spec.sample_rate, layout="mono")
            audio.time_base = Fraction(1, spec.sample_rate)
        for frame in render_clip(spec):
            vframe = av.VideoFrame.from_ndarray(frame.video, format="rgb24")
            vframe.pts = frame.index
            container.mux(video.encode(vframe))
            if audio is not None and frame.audio is not None:
                aframe = av.AudioFrame.from_ndarray(frame.audio[None, :], format="flt", layout="mono")
                aframe.sample_rate = spec.sample_rate
                aframe.pts = frame.first_sample
                aframe.time_base = Fraction(1, spec.sample_rate)
                container.mux(audio.encode(aframe))
            frames += 1
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    return frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil make-clip``."""
    parser.add_argument("--output", "-o", type=Path, required=True, help="mp4 file to write")
    parser.add_argument("--duration", type=float, default=10.0, help="length in seconds (default 10)")
    parser.add_argument("--width", type=int, default=640, help="picture width, even (default 640)")
    parser.add_argument("--height", type=int, default=360, help="picture height, even (default 360)")
    parser.add_argument("--fps", type=int, default=15, help="frames per second (default 15)")
    parser.add_argument(
        "--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000)"
    )
    parser.add_argument(
        "--incident",
        type=parse_incident,
        action="append",
        default=[],
        metavar="SECONDS[:CLASS]",
        help="an incident (sound and picture change on the same frame); repeatable, e.g. 4:gunshot",
    )
    parser.add_argument("--no-audio", action="store_true", help="video only")
    parser.add_argument(
        "--noise", type=float, default=0.0, help="sensor noise std in 8-bit levels (default 0)"
    )
    parser.add_argument("--bitrate", type=int, default=None, help="video bit rate in bit/s (default: CRF 23)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same clip)")
    parser.add_argument(
        "--style",
        choices=("basic", "scene"),
        default="basic",
        help="basic: a flash and a bang, for testing the plumbing (default); scene: the look of the "
        "model's synthetic training data, which the bundled model recognises (as in vigil demo)",
    )


def run(args: argparse.Namespace) -> int:
    """Render and encode the clip; prints a one-line summary."""
    try:
        spec = ClipSpec(
            duration_s=args.duration,
            width=args.width,
            height=args.height,
            fps=args.fps,
            sample_rate=args.sample_rate,
            incidents=tuple(args.incident),
            audio=not args.no_audio,
            noise=args.noise,
            seed=args.seed,
            style=args.style,
        )
    except ValueError as exc:
        print(f"vigil make-clip: {exc}", file=sys.stderr)
        return 2
    frames = write_clip(spec, args.output, bitrate=args.bitrate)
    size = os.path.getsize(args.output)
    incidents = ", ".join(f"{t:g}s {c}" for t, c in spec.incidents) or "none"
    print(
        f"wrote {args.output}: {frames} frames {spec.width}x{spec.height}@{spec.fps}, "
        f"audio {f'{spec.sample_rate} Hz' if spec.audio else 'none'}, incidents: {incidents}, {size} bytes"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m services.clips ...`` (same options as ``vigil make-clip``)."""
    parser = argparse.ArgumentParser(
        prog="vigil make-clip", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
