"""The ``inverselab`` command line: list, solve, ct-file, train, evaluate, average, stability,
report, data, demo.

Bad input (unknown problem, method or parameter, malformed ``key=value``, unreadable file)
prints one line on stderr naming the fix and exits with code 2.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .values import UsageError

__all__ = ["main", "EXIT_USAGE"]

EXIT_USAGE = 2


def _check_names(args) -> None:
    """Refuse empty names where a default or the current folder would silently take their
    place, and output locations that cannot be what the verb writes."""
    for flag in ("out", "method", "model", "loss", "problem", "problem_file", "run", "device", "init", "data"):
        value = getattr(args, flag, None)
        if isinstance(value, str) and not value.strip():
            name = "--problem" if flag == "problem_file" else flag if flag in ("problem", "run") else f"--{flag}"
            hint = "use cpu (or cuda where a GPU is present)" if flag == "device" else "give a name"
            raise UsageError(f"{name} is empty: {hint}")
    for run in getattr(args, "runs", None) or ():
        if not run.strip():
            raise UsageError("a run folder name is empty: give the folders to compare")
    out = getattr(args, "out", None)
    if isinstance(out, str):
        command = getattr(args, "command", "")
        kind = {"report": "file", "data": "file"}.get(command, "folder")
        _check_out(Path(out), kind, "an HTML file" if command == "report" else "an HDF5 file" if kind == "file"
                   else "a run folder")


def _check_out(target: Path, kind: str, noun: str) -> None:
    """Refuse an output location that is not (and cannot become) ``noun``."""
    longest = max((len(part.encode()) for part in target.parts), default=0)
    if longest > 255:
        raise UsageError(f"--out has a name of {longest} bytes; the file system allows 255 (use a shorter name)")
    if target.is_symlink() and not target.exists():
        raise UsageError(f"--out {target} is a dangling symbolic link: remove the link or choose another --out")
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--out {target} lies below the file {parent}: choose another --out")
    if not target.exists():
        return
    if target.is_dir():
        if kind == "file":
            raise UsageError(f"--out {target} is a folder, not {noun}: give a file name")
    elif not target.is_file():
        raise UsageError(f"--out {target} is a device or pipe, not {noun}: choose another --out")
    elif kind == "folder":
        raise UsageError(f"--out {target} is a file, not a run folder: choose another --out")


_OS_HINTS = {errno.ENOSPC: "free some disk space", errno.ENAMETOOLONG: "use a shorter name",
             errno.EROFS: "choose a writable location", errno.EFBIG: "the file-size limit was reached; choose another "
             "location", errno.ENOTDIR: "a part of the path is a file"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from ..errors import InputError

    try:
        from .parser import build_parser

        args = build_parser().parse_args(argv)
        _check_names(args)
        return args.func(args)
    except (UsageError, InputError) as exc:
        print(f"inverselab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader closed the pipe (inverselab list | head -1): nothing more to say
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout must stay open for the interpreter's exit
        except OSError:
            pass
        return 0
    except OSError as exc:
        hint = _OS_HINTS.get(exc.errno, "check the path")
        where = f": {exc.filename}" if exc.filename else ""
        print(f"inverselab: error: {exc.strerror or exc}{where} ({hint})", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninverselab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fault we did not foresee: one line, the traceback on request
        if os.environ.get("INVERSELAB_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"inverselab: error: unexpected {type(exc).__name__}: {first} (INVERSELAB_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
