"""The one ``edgewise`` command.

The command tree is a table: each leaf names the module under ``edgewise._cli`` that defines it.
A leaf module ``M`` with leaf function ``f`` provides ``f_args(parser)`` (adds the flags; cheap, no
heavy imports) and ``f(args) -> int | None`` (imports its library lazily and calls one function).
User mistakes (``EdgewiseError``, ``ValueError``, ``OSError``) become one line on stderr and exit
code 2; ``--debug`` shows the traceback instead, and lets TensorFlow's, onnx2tf's and LiteRT's own
log lines through (``EDGEWISE_DEBUG=1``, read by ``edgewise._quiet``), which are otherwise kept off the
console.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# "group leaf" (or "leaf") -> "module:function", module relative to edgewise._cli.
COMMANDS: dict[str, str] = {
    "pipeline ecg": "ecg:pipeline",
    "train ecg": "ecg:train",
    "evaluate ecg": "ecg:evaluate",
    "delineate": "ecg:delineate",
    "pipeline mosquito": "mosquito:pipeline",
    "train mosquito": "mosquito:train",
    "evaluate mosquito": "mosquito:evaluate",
    "detect": "mosquito:detect",
    "run ecg": "run:run_ecg",
    "run mosquito": "run:run_mosquito",
    "models list": "models:list_models",
    "data fetch": "data:fetch",
    "export": "export:export",
    "compress": "compress:compress",
    "analyze hessian": "analyze_hessian:hessian",
    "analyze divergences": "analyze_hessian:divergences",
    "analyze ite": "analyze_ite:ite",
    "analyze gin": "analyze_gin:gin",
    "analyze disentangle": "analyze_gin:disentangle",
    "bench": "bench:bench",
    "devices list": "devices:list_devices",
    "devices show": "devices:show",
    "devices add": "devices:add",
    "devices remove": "devices:remove",
    "deploy": "deploy:deploy",
}

GROUP_HELP = {
    "pipeline": "run the main job for a task end to end and write a report",
    "train": "train a model for a task",
    "evaluate": "evaluate a model for a task on held-out data",
    "models": "the shipped models and artifacts",
    "run": "run a model live on a stream: serial sensor, microphone, file or stdin",
    "data": "datasets: download official releases",
    "analyze": "host analysis tools (Hessian, divergences, ITE, GIN, disentanglement)",
    "devices": "your devices (a profile + an SSH target) and the device profiles with their peak rates",
}


def _unavailable(missing: str):
    def func(args):
        from edgewise.runtime.errors import BackendMissingError

        raise BackendMissingError(f"this command needs {missing!r}, which is not installed; "
                                  "pip install 'edgewise[host]' (device installs carry only the runtime)")

    func.__doc__ = f"(unavailable here: needs {missing})"
    return func


def _load(target: str):
    mod_name, func_name = target.split(":")
    try:
        mod = importlib.import_module(f"edgewise._cli.{mod_name}")
    except ModuleNotFoundError as e:
        if e.name == f"edgewise._cli.{mod_name}":
            return None, None
        # a leaf whose module needs a host package (device install): list it, fail clearly when used
        return _unavailable(e.name or "a host package"), None
    func = getattr(mod, func_name, None)
    if func is None:
        return None, None
    return func, getattr(mod, f"{func_name}_args", None)


def build_parser() -> argparse.ArgumentParser:
    from edgewise import __version__

    parser = argparse.ArgumentParser(prog="edgewise", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgewise {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors and the TensorFlow/onnx2tf/LiteRT logs")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, target in COMMANDS.items():
        func, add_args = _load(target)
        if func is None:  # not built yet
            continue
        doc = (func.__doc__ or "").strip().splitlines()
        help_ = doc[0] if doc else None
        words = path.split()
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_, description=help_)
        else:
            group, leaf = words
            if group not in groups:
                gp = top.add_parser(group, help=GROUP_HELP.get(group))
                groups[group] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
                groups[group].required = True
            sub = groups[group].add_parser(leaf, help=help_, description=help_)
        if add_args is not None:
            add_args(sub)
        sub.set_defaults(_func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from edgewise.runtime.errors import EdgewiseError

    debug_before = os.environ.get("EDGEWISE_DEBUG")
    if args.debug:
        os.environ["EDGEWISE_DEBUG"] = "1"
    try:
        rc = args._func(args)
    except KeyboardInterrupt:
        print("edgewise: interrupted", file=sys.stderr)
        return 130
    except (EdgewiseError, ValueError, OSError) as e:
        if args.debug:
            raise
        msg = str(e) or type(e).__name__
        if isinstance(e, FileNotFoundError) and e.filename and str(e.filename) not in msg:
            msg = f"{msg}: {e.filename}"
        print(f"edgewise: error: {msg}", file=sys.stderr)
        return 2
    finally:  # main() may run inside a longer-lived process (tests)
        if debug_before is None:
            os.environ.pop("EDGEWISE_DEBUG", None)
        else:
            os.environ["EDGEWISE_DEBUG"] = debug_before
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
