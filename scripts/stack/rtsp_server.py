"""RTSP test camera: serves mp4 clips (H.264 + optional AAC) with GStreamer's RTSP server.

Run with the system python (it needs ``gi`` and GstRtspServer from Debian packages):

    /usr/bin/python3 scripts/stack/rtsp_server.py --port 8554 \\
        --mount /incident=.stack/clips/incident.mp4 --mount /noaudio=.stack/clips/noaudio.mp4 \\
        [--user USER:PASS]

Every client gets its own playback from the start of the clip (unshared media); the stream ends
with the clip. ``--user`` turns on RTSP basic auth, so tests can check wrong credentials.
Stops on SIGTERM / SIGINT at once, with clients attached or not: their connections are closed
(they see the camera drop) and the process exits without waiting for media pipelines to wind
down; a watchdog ends it if even that hangs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstPbutils", "1.0")
from gi.repository import GLib, Gst, GstPbutils, GstRtspServer  # noqa: E402

VIDEO_BRANCH = "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"
AUDIO_BRANCH = "d.audio_0 ! queue ! aacparse ! rtpmp4apay name=pay1 pt=97"


def has_audio(path: Path) -> bool:
    """Whether the clip has an audio stream (probed with GStreamer's discoverer)."""
    info = GstPbutils.Discoverer.new(10 * Gst.SECOND).discover_uri(path.resolve().as_uri())
    return bool(info.get_audio_streams())


def launch_line(path: Path, audio: bool) -> str:
    """The GStreamer launch line that demuxes the mp4 and payloads its streams for RTSP."""
    location = str(path.resolve()).replace('"', '\\"')
    branches = [VIDEO_BRANCH] + ([AUDIO_BRANCH] if audio else [])
    return f'( filesrc location="{location}" ! qtdemux name=d {" ".join(branches)} )'


def parse_mount(text: str) -> tuple[str, Path]:
    """Parse ``/name=PATH``."""
    mount, sep, path = text.partition("=")
    if not sep or not mount.startswith("/") or not path:
        raise argparse.ArgumentTypeError(f"mount {text!r}: expected /NAME=PATH")
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"mount {mount}: no such clip {path}")
    return mount, Path(path)


def parse_user(text: str) -> tuple[str, str]:
    """Parse ``USER:PASS``."""
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("--user: expected USER:PASS")
    return user, password


def build_server(
    host: str, port: int, mounts: list[tuple[str, Path]], user: tuple[str, str] | None
) -> GstRtspServer.RTSPServer:
    """An RTSP server with one unshared media factory per mount (and basic auth if ``user``)."""
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(str(port))
    if user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", user[0])
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(*user), token)
        server.set_auth(auth)
    points = server.get_mount_points()
    for mount, path in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        audio = has_audio(path)
        factory.set_launch(launch_line(path, audio))
        factory.set_shared(False)
        if user is not None:
            role, _ = Gst.Structure.from_string(
                f"{user[0]}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
            factory.add_role_from_structure(role)
        points.add_factory(mount, factory)
        print(f"mount {mount}: {path} ({'video+audio' if audio else 'video only'})", flush=True)
    return server


EXIT_GRACE_S = 2.0  # how long closing the clients may take before the process exits anyway


def close_clients(server: GstRtspServer.RTSPServer) -> None:
    """Drop every client connection (like a camera losing power): sessions end, sockets close."""

    def remove(_server: object, _client: object, *_: object) -> GstRtspServer.RTSPFilterResult:
        return GstRtspServer.RTSPFilterResult.REMOVE

    server.client_filter(remove)


def stop_soon(server: GstRtspServer.RTSPServer, loop: GLib.MainLoop) -> bool:
    """Signal handler (in the main loop): close clients, leave the loop; exit hard if that hangs."""
    watchdog = threading.Timer(EXIT_GRACE_S, lambda: os._exit(0))
    watchdog.daemon = True
    watchdog.start()
    close_clients(server)
    loop.quit()
    return GLib.SOURCE_REMOVE


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="RTSP test camera serving mp4 clips")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--mount", type=parse_mount, action="append", required=True, metavar="/NAME=PATH")
    parser.add_argument(
        "--user", type=parse_user, default=None, metavar="USER:PASS", help="require basic auth"
    )
    args = parser.parse_args(argv)

    Gst.init(None)
    server = build_server(args.host, args.port, args.mount, args.user)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, stop_soon, server, loop)
    print(f"rtsp server on rtsp://{args.host}:{args.port} (auth {'on' if args.user else 'off'})", flush=True)
    loop.run()
    print("rtsp server stopped", flush=True)
    # Finalizing GStreamer's media pipelines can block on streaming threads; nothing is left to
    # save, so leave without it.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
