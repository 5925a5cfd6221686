"""The command line: a thin face over the core. Heavy imports wait inside each command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from kohyawiz import __version__
from kohyawiz.cli.arguments import (
    add_check_arguments,
    add_dataset_tool_arguments,
    add_interop_arguments,
    add_train_arguments,
)
from kohyawiz.cli.bugs import EscapingWriter, escape_controls, write_bug_report
from kohyawiz.errors import UserError


class _Parser(argparse.ArgumentParser):
    """Argument errors become one line and exit code 2, like every other user mistake."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kohyawiz",
        description="Plan and run LoRA / LyCORIS training with kohya's sd-scripts, by the guide's rules.",
    )
    parser.add_argument("--version", action="version", version=f"kohyawiz {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    plan = commands.add_parser("plan", help="write dataset.toml, config.toml and plan.json for a run")
    add_plan_arguments(plan)

    explain = commands.add_parser(
        "explain", help="every value of a plan with its rule and reason; or what a rule id means"
    )
    explain.add_argument(
        "dir", metavar="DIR|ID", help="a plan folder (or its plan.json), a rule or constraint id, or `rules` for all"
    )

    presets = commands.add_parser("presets", help="list the shipped presets, or show one")
    presets.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    presets.add_argument("name", nargs="?", help="preset name or file (with show)")

    check = commands.add_parser("check", help="check a training folder against the guide's dataset rules")

    add_check_arguments(check)

    train = commands.add_parser("train", help="launch sd-scripts on a plan folder and watch it")

    add_train_arguments(train)

    runs = commands.add_parser("runs", help="training runs: list, show one (plot, checkpoints), compare several")
    runs.add_argument("action", nargs="?", choices=("list", "show", "compare", "watch"), default="list")
    runs.add_argument("ids", nargs="*", metavar="ID",
                      help="run id(s): one with show, two or more with compare; with watch a run id (slurm-JOBID), "
                           "its record folder, or - for a log piped in")  # fmt: skip
    runs.add_argument("--wait", type=float, default=600, metavar="S",
                      help="watch: how long to wait for a queued job's record to appear (default 600)")  # fmt: skip
    runs.add_argument("--timeout", type=float, metavar="S", help="watch: stop following after S seconds")
    runs.add_argument("--plain", action="store_true", help="watch: plain lines instead of a progress bar")
    runs.add_argument("--json", action="store_true", help="the record as data")
    runs.add_argument("--out", metavar="PNG", help="where compare draws its plot (default: runs/compare.png)")

    sd = commands.add_parser("sd-scripts", help="learn an sd-scripts checkout's own interface (any version)")
    sd_actions = sd.add_subparsers(dest="sd_action", metavar="ACTION", required=True)
    learn = sd_actions.add_parser("learn", help="read a checkout's parsers in its environment and keep its facts")
    learn.add_argument("dir", metavar="DIR", help="the sd-scripts checkout (or kohya_ss's sd-scripts folder)")
    learn.add_argument("--python", metavar="PATH", help="Python of its environment (default: its venv)")
    learn.add_argument("--again", action="store_true", help="read it again even when it was learned before")
    inst = sd_actions.add_parser("install", help="sd-scripts at the pinned commit with its own venv, ready to train")
    inst.add_argument("--ref", help="a commit, tag or branch instead of the pinned commit")
    inst.add_argument("--into", metavar="DIR", help="where (default: sd-scripts/ in the kohyawiz home)")
    inst.add_argument("--torch", metavar="SPEC", help="the torch requirement to install (default: for your driver)")
    inst.add_argument("--python", metavar="PATH", help="the Python that creates the venv (3.10 or newer)")
    inst.add_argument("--source", metavar="URL", help="the git repository to clone (default: upstream sd-scripts)")
    inst.add_argument("--installer", metavar="CMD", help="the package installer to run (default: the venv's pip)")

    queue = commands.add_parser("queue", help="queue plan folders and run them one after another")
    queue.add_argument("action", choices=("add", "list", "run"))
    queue.add_argument("dir", nargs="?", help="plan folder (with add)")
    queue.add_argument("--stop-on-failure", action="store_true", help="stop the queue at the first failed run")
    queue.add_argument("--sd-scripts", metavar="DIR")
    queue.add_argument("--python", metavar="PATH")

    add_interop_arguments(commands)
    add_dataset_tool_arguments(commands)

    wizard = commands.add_parser("wizard", help="the step-by-step terminal wizard (also: kohyawiz with no arguments)")
    wizard.add_argument("--answers", metavar="FILE", help="prefill from a preset (e.g. a plan's preset.toml)")
    wizard.add_argument("--out", metavar="DIR", help="plan folder to write")
    wizard.add_argument("--sd-scripts", metavar="DIR")
    wizard.add_argument("--python", metavar="PATH")

    demo = commands.add_parser("demo", help="make a small demo dataset and plan it (no GPU, no model)")
    demo.add_argument("--out", default="kohyawiz-demo", help="folder for the demo (default: ./kohyawiz-demo)")
    demo.add_argument("--train", action="store_true",
                      help="also build a random model in sd-scripts' environment and train a few CPU steps on it")  # fmt: skip
    demo.add_argument("--sd-scripts", metavar="DIR", help="with --train: the sd-scripts checkout")
    demo.add_argument("--python", metavar="PATH", help="with --train: the Python that runs it")
    demo.add_argument("--steps", type=int, default=2, help="with --train: training steps (default 2)")
    demo.add_argument("--plain", action="store_true", help="with --train: plain progress lines")
    return parser


def add_answer_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for each answer of kohyawiz.vocabulary, the one declaration every face follows."""
    from kohyawiz.vocabulary import ANSWERS

    for answer in ANSWERS:
        if not answer.flag:
            continue
        options: dict[str, Any] = {"help": answer.help}
        if answer.kind == "choice":
            options["choices"] = answer.choices
        elif answer.kind == "switch":
            options.update(action="store_true", default=None)
        elif answer.kind == "toggle":
            options.update(action=argparse.BooleanOptionalAction, default=None)
        elif answer.kind in ("int", "float"):
            options["type"] = int if answer.kind == "int" else float
        if answer.metavar:
            options["metavar"] = answer.metavar
        parser.add_argument(answer.flag, **options)


def add_plan_arguments(plan: argparse.ArgumentParser) -> None:
    plan.add_argument("--preset", metavar="NAME|FILE", help="start from a preset (see `kohyawiz presets`)")
    plan.add_argument("--dataset", metavar="DIR", help="the parent of your N_name image folders")
    plan.add_argument(
        "--concept", action="append", default=[], metavar="NAME=COUNT",
        help="plan a concept before its images exist (repeatable)",
    )  # fmt: skip
    add_answer_arguments(plan)
    plan.add_argument(
        "--log-with", choices=("tensorboard", "wandb", "all"),
        help="where sd-scripts logs (default TensorBoard; wandb sends the run to Weights & Biases)",
    )  # fmt: skip
    plan.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="set an sd-scripts argument explicitly (repeatable)",
    )  # fmt: skip
    plan.add_argument("--sd-scripts-version", metavar="ID", help="target sd-scripts version (default: newest)")
    plan.add_argument(
        "--sd-scripts", metavar="DIR", dest="sd_scripts_dir",
        help="plan for this checkout's own interface (learned in its environment the first time)",
    )  # fmt: skip
    plan.add_argument("--python", metavar="PATH", dest="sd_python", help="with --sd-scripts: Python of its environment")
    plan.add_argument("--force", action="store_true", help="plan even when the dataset check finds errors")
    plan.add_argument("--out", default="plan", metavar="DIR", help="plan folder to write (default: ./plan)")


def _wizard(answers: str | None, out: str | None, sd_scripts: str | None, python: str | None) -> int:
    from kohyawiz.tui.app import make_app

    app = make_app(answers, out, sd_scripts, python)
    app.run()
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Every command, behind the last-resort handler: a user mistake is one line (exit 2); anything
    else is a kohyawiz bug, said in one line with the path of a report file (exit 70)."""
    words = list(sys.argv[1:] if argv is None else argv)
    stdout = sys.stdout
    sys.stdout = EscapingWriter(stdout)
    try:
        return _dispatch(words)
    except UserError as exc:
        print(f"kohyawiz: error: {escape_controls(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kohyawiz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kohyawiz explain rules | head`): stop quietly.
        _silence(stdout)
        return 1
    except Exception:  # the last resort: never a raw traceback
        report = write_bug_report(words)
        print(f"kohyawiz: internal error: this is a kohyawiz bug, not your mistake; the traceback and the command are "
              f"in {report}: please send that file to the developers", file=sys.stderr)  # fmt: skip
        return 70
    finally:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, OSError, ValueError):
            _silence(stdout)
        sys.stdout = stdout


def _silence(stream: object) -> None:
    """Point the standard output at /dev/null so the interpreter's last flush cannot fail."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    if True:
        args = parser.parse_args(argv)
        if args.command is None:
            if sys.stdin.isatty() and sys.stdout.isatty():
                return _wizard(None, None, None, None)
            parser.print_help()
            return 0
        if args.command == "wizard":
            return _wizard(args.answers, args.out, args.sd_scripts, args.python)
        if args.command == "plan":
            from kohyawiz.cli.plan_cmd import run_plan

            return run_plan(args)
        if args.command == "explain":
            from kohyawiz.cli.explain_cmd import run_explain

            return run_explain(args)
        if args.command == "presets":
            from kohyawiz.cli.presets_cmd import run_presets

            return run_presets(args)
        if args.command == "check":
            from kohyawiz.cli.check_cmd import run_check

            return run_check(args)
        if args.command == "sd-scripts":
            from kohyawiz.cli.sd_scripts_cmd import run_sd_scripts

            return run_sd_scripts(args)
        if args.command == "runs" and args.action == "watch":
            from kohyawiz.cli.remote_cmd import run_watch

            return run_watch(args)
        if args.command == "runs":
            from kohyawiz.cli.runs_cmd import run_runs

            return run_runs(args)
        if args.command in ("train", "queue"):
            from kohyawiz.cli import train_cmd

            return int(
                {"train": train_cmd.run_train, "queue": train_cmd.run_queue}[args.command](
                    args
                )
            )
        if args.command in ("import", "export", "diff"):
            from kohyawiz.cli import interop_cmd

            handlers = {
                "import": interop_cmd.run_import,
                "export": interop_cmd.run_export,
                "diff": interop_cmd.run_diff,
            }
            return int(handlers[args.command](args))
        if args.command in ("inspect", "prepare", "tags"):
            from kohyawiz.cli import dataset_cmd

            return dataset_cmd.dispatch(args)
        if args.command == "demo":
            from kohyawiz.cli.demo_cmd import run_demo

            return run_demo(args)
    return 0
