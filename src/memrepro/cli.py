"""``memrepro``: the one command for everything around a build (the build itself is
``snakemake`` or ``dvc repro``).

    memrepro status      the build at a glance: jobs done / running / left, each training ETA
    memrepro replay      retrain finished cells and compare them with their recorded files
    memrepro verify      every run's files and every figure's provenance, as recorded
    memrepro after-pull  after `dvc pull`: make Snakemake see the pulled results as built
    memrepro plots       `dvc plots show` with its charting libraries inlined (no network)
    memrepro show EXP    an experiment's resolved settings at a scale, and where each came from
    memrepro list [WHAT] papers, figures, kinds, probes, objectives, losses, models, noises
    memrepro rehearse    every job of a scale's plan for a few steps here, and its cost report

Also ``python -m memrepro``. Each command's work lives in its module (``memrepro.pipeline``'s
``build_status``, ``replay``, ``integrity``, ``restore``, ``dvcplots``, ``inventory``;
``memrepro.config.explain``); this module only parses the command line and turns the
expected failures (not in a project folder, an unknown experiment, a configuration error)
into one line on stderr and exit status 2, without a traceback. Modules are imported inside
the command that needs them, so ``memrepro --help`` and ``memrepro list papers`` load
neither torch nor the plan.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

USAGE_ERROR = 2


class CommandError(Exception):
    """An expected failure of a command: said in one line, exit status 2."""


def _root(args: argparse.Namespace) -> Path:
    from memrepro.pipeline.project import NotAProject, project_root

    try:
        return project_root(args.root)
    except NotAProject as err:
        raise CommandError(str(err)) from None


def cmd_status(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.build_status import status_text

    _root(args)
    print(status_text(args))
    return 0


def cmd_replay(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.replay import run

    _root(args)
    return run(args)


def cmd_verify(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro import provenance
    from memrepro.pipeline.integrity import report

    if args.record:
        for path in args.record:
            if not Path(path).is_file():
                raise CommandError(f"--record {path}: no such file")
            print(f"{path}: {provenance.show(path)}")
        return 0
    if args.results is None:
        results = _root(args) / "results"
    elif not Path(args.results).is_dir():
        raise CommandError(f"{args.results}: no such folder (give a build's results folder)")
    else:
        results = Path(args.results)
    return report(results)


def cmd_after_pull(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.restore import run

    _root(args)
    return run(args, extra)


def cmd_plots(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.dvcplots import show_offline
    from memrepro.pipeline.restore import RestoreError

    try:  # a DVC repository (.dvc/), which need not hold the Snakefile (show_offline checks)
        return show_offline(args.root, extra)
    except (FileNotFoundError, RestoreError) as err:
        raise CommandError(str(err)) from None


def cmd_show(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.project import config_overrides

    root = _root(args)
    try:
        from memrepro.config.explain import describe
    except ImportError as err:
        raise CommandError(f"`memrepro show` needs memrepro.config.explain ({err})") from None
    try:  # an unknown experiment is a KeyError (explain.UnknownExperiment) naming it
        print(describe(args.experiment, args.scale, root,
                       [args.configfile] if args.configfile else [],
                       config_overrides(args.config)))
    except KeyError as err:
        raise CommandError(err.args[0] if err.args else str(err)) from None
    return 0


def cmd_list(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.pipeline.inventory import listing

    root = _root(args) if args.what in (None, "figures") else Path(args.root)
    print(listing(args.what, root))
    return 0


def cmd_rehearse(args: argparse.Namespace, extra: list[str]) -> int:
    from memrepro.rehearsal.run import run

    return run(args, _root(args))


# --- the parser -----------------------------------------------------------------------------

def _status_options(ap: argparse.ArgumentParser) -> None:
    from memrepro.pipeline.build_status import add_arguments
    add_arguments(ap)


def _replay_options(ap: argparse.ArgumentParser) -> None:
    from memrepro.pipeline.replay import add_arguments
    add_arguments(ap)


def _after_pull_options(ap: argparse.ArgumentParser) -> None:
    from memrepro.pipeline.restore import add_arguments
    add_arguments(ap)
    ap.epilog = ("Arguments after `--` go to snakemake (e.g. `memrepro after-pull -- --config "
                 "scale=quick`).")


def _verify_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("results", nargs="?", help="a build's results folder (default: "
                    "<root>/results)")
    ap.add_argument("--record", nargs="+", metavar="FILE", help="print these figure files' "
                    "provenance records instead (PNG, PDF, caption or Markdown)")


def _plots_options(ap: argparse.ArgumentParser) -> None:
    ap.epilog = ("Any other option (e.g. --open), and everything after `--`, goes to "
                 "`dvc plots show`. Writes .dvc/tmp/plots_offline.html; `dvc config --local "
                 "plots.html_template tmp/plots_offline.html` makes plain `dvc plots show` "
                 "use it too.")


def _show_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("experiment", help="an experiment's name (`memrepro list figures` shows "
                    "the figures; params.yaml and config/ name the experiments)")
    ap.add_argument("--scale", choices=("smoke", "quick", "paper"),
                    help="default: the configuration's scale")
    ap.add_argument("--configfile", help="the --configfile given to Snakemake")
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                    help="the overrides given to Snakemake")


def _rehearse_options(ap: argparse.ArgumentParser) -> None:
    from memrepro.rehearsal.run import add_arguments
    add_arguments(ap)


def _list_options(ap: argparse.ArgumentParser) -> None:
    from memrepro.pipeline.inventory import WHAT
    ap.add_argument("what", nargs="?", choices=WHAT, help="default: all of them")


Options = Callable[[argparse.ArgumentParser], None]
Command = Callable[[argparse.Namespace, list[str]], int]
# name -> (one-line help, its options, what runs it, whether it passes unknown options on)
COMMANDS: dict[str, tuple[str, Options, Command, bool]] = {
    "status": ("the build at a glance: jobs done, running, left; ETAs",
               _status_options, cmd_status, False),
    "replay": ("retrain finished cells and compare them with their records",
               _replay_options, cmd_replay, False),
    "verify": ("check run files and figure provenance against their records",
               _verify_options, cmd_verify, False),
    "after-pull": ("after `dvc pull`: make Snakemake see the results as built",
                   _after_pull_options, cmd_after_pull, False),
    "plots": ("`dvc plots show` with its libraries inlined (no network)",
              _plots_options, cmd_plots, True),
    "show": ("an experiment's settings at a scale and where each came from",
             _show_options, cmd_show, False),
    "list": ("papers, figures, kinds, probes, objectives, losses, models, noises",
             _list_options, cmd_list, False),
    "rehearse": ("every job of a scale's plan for a few steps here; its cost report",
                 _rehearse_options, cmd_rehearse, False),
}
# each command's --help: its one line, then what its module says (the longer story)
DESCRIPTIONS = {
    "status": "memrepro.pipeline.build_status", "replay": "memrepro.pipeline.replay",
    "verify": "memrepro.pipeline.integrity", "after-pull": "memrepro.pipeline.restore",
    "plots": "memrepro.pipeline.dvcplots", "show": "memrepro.config.explain",
    "list": "memrepro.pipeline.inventory", "rehearse": "memrepro.rehearsal.run",
}


class _Wide(argparse.HelpFormatter):
    """Help 100 characters wide whose command column fits ``after-pull``: argparse sizes that
    column from the options alone, so the longest command name would wrap onto its own line."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=18, width=100)
        self._action_max_length = max(self._action_max_length, 16)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. ``only``: the one command whose options are added (the others'
    modules are then not imported); None adds every command's."""
    ap = argparse.ArgumentParser(prog="memrepro", description="The one command around a "
                                 "memrepro build (the build itself: snakemake or dvc repro).",
                                 formatter_class=_Wide)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", "-d", "--directory", dest="root", default=".",
                        help="the project folder (default: the current directory)")
    for name, (help_line, options, _, _) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_line, parents=[common], formatter_class=_Wide,
                            description=f"{help_line} (see {DESCRIPTIONS[name]})")
        if only in (None, name):
            options(sp)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one ``memrepro`` command; its exit status (2: bad usage or an expected failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # what follows goes to the tool a command runs (snakemake, dvc)
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    ap = parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args, unknown = ap.parse_known_args(argv)
    _, _, run, passes_on = COMMANDS[args.command]
    if unknown and not passes_on:
        ap.error(f"{args.command}: unrecognized arguments: {' '.join(unknown)}")
    if extra and args.command not in ("after-pull", "plots"):
        ap.error(f"{args.command}: takes no arguments after `--`")
    try:
        return run(args, [*unknown, *extra])
    except CommandError as err:
        print(f"memrepro {args.command}: {err}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # `memrepro list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ValueError as err:
        from memrepro.config.errors import ConfigError
        if not isinstance(err, ConfigError):
            raise
        print(f"memrepro {args.command}: {err}", file=sys.stderr)
        return USAGE_ERROR
