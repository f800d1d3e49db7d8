#!/bin/sh
# Slim a finished virtual environment for a run-time image: run it in a build stage, after the last
# `pip install`, before the venv is copied into the final stage.
#
#   sh docker/slim-venv.sh VENV [--strip]
#
# - pip, setuptools and wheel go: nothing is installed at run time (the venv's pip alone is ~20 MB).
# - The test suites that some wheels ship inside their packages (numpy's, jsonschema's, ...) go:
#   nothing imports them at run time.
# - With --strip: `strip --strip-unneeded` on the compiled extensions and the libraries bundled in the
#   wheels, as Debian does to its own binaries: several wheels ship theirs with symbols (~60 MB in the
#   ingest/alert venv). Only symbol tables go; the code is unchanged. A file is stripped only if it
#   loads (dlopen) before, and kept stripped only if it still loads after: strip can break libraries
#   that auditwheel edited with patchelf (numpy's bundled OpenBLAS: "ELF load command address/offset
#   not page-aligned"), and those keep their symbols. Needs binutils in the build stage, never in the
#   final one.
# Byte-code (__pycache__) stays: under a read-only root nothing could write it at start-up.
set -eu
venv="$1"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$venv/bin/python" -m pip uninstall -y -q pip setuptools wheel 2>&1 | grep -v "^WARNING: Skipping" || true
[ ! -e "$site/pip" ] && [ ! -e "$site/setuptools" ] || { echo "slim-venv: pip/setuptools still in $site" >&2; exit 1; }
# only directories inside a package (site/PKG/.../tests), never a top-level package of that name
find "$site" -mindepth 2 -depth -type d -name tests -exec rm -rf {} +
if [ "${2:-}" = "--strip" ]; then
    loads() { "$venv/bin/python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$1" 2>/dev/null; }
    find "$venv" -type f \( -name '*.so' -o -name '*.so.*' \) | while read -r lib; do
        readelf -S "$lib" 2>/dev/null | grep -q '\.symtab' && loads "$lib" || continue
        cp -p "$lib" "$lib.unstripped"
        strip --strip-unneeded "$lib"
        if loads "$lib"; then
            rm "$lib.unstripped"
        else
            echo "slim-venv: $lib does not load once stripped: kept as shipped" >&2
            mv "$lib.unstripped" "$lib"
        fi
    done
fi
du -sh "$venv" >&2
