"""The `lab` command line: parse, call the API, print. Nothing heavy is imported up front."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130
SEED_MAX = 2**31 - 1  # as an experiment's `seed`


def exit_code(state: str) -> int:
    """How a run or sweep that ended `state` exits: completed 0, stopped 130, anything else 1."""
    from lab.summary import RunState

    return {RunState.COMPLETED: EXIT_OK, RunState.STOPPED: EXIT_STOPPED}.get(state, EXIT_FAILED)


class _Parser(argparse.ArgumentParser):
    """Every command-line error is one line, exit 2, as a bad experiment file's is; help printed
    into a pipe or a file is whole lines (argparse wraps at the terminal's width, 80 columns
    when there is no terminal)."""

    def _get_formatter(self):
        if sys.stdout.isatty():
            return super()._get_formatter()
        return self.formatter_class(prog=self.prog, width=10_000)

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message.removeprefix('argument ')} (`{self.prog} --help` shows usage)\n")


def number(kind: type, low: float, high: float):
    """An argparse type for a number of `kind` (int or float) from `low` to `high`: anything else
    (not a number, nan, inf, out of range) is refused by the parser, naming the option and what
    is allowed."""
    import math

    def shown(v: float) -> str:
        return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"

    allowed = f"{'a whole number' if kind is int else 'a finite number'} from {shown(low)} to {shown(high)}"

    def parse(text: str):
        from lab.display import printable

        try:
            value = kind(text)
        except ValueError:  # (int() refuses more than 4,300 digits too)
            raise argparse.ArgumentTypeError(f"must be {allowed} (got {printable(repr(text), limit=40)})") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be {allowed} (got {printable(text, limit=40)})")
        return value

    parse.__name__ = kind.__name__
    return parse


SEED = number(int, 0, SEED_MAX)


# what a RUN argument may be (lab.store.resolve_run; docs/run-folders.md, "Which run a name calls")
RUN_HELP = "run id, unique id prefix or tail, path, or experiment name (its latest completed run, not a sweep's trial)"


def _parser() -> argparse.ArgumentParser:
    from lab.rl.seeds import PLAY_SEED_OFFSET

    runs_dir = argparse.ArgumentParser(add_help=False)
    runs_dir.add_argument("--runs-dir", metavar="DIR", help="runs root (default: $LAB_RUNS_DIR or ./runs)")
    # the commands that read specs from run and sweep folders, which name code only the user may allow
    allow = argparse.ArgumentParser(add_help=False)
    allow.add_argument("--allow-module", dest="allow_modules", action="append", default=[], metavar="MODULE",
                       help="import this module where a run or sweep folder names it (env.id, agent_class); lab "
                            "imports none otherwise (also: $LAB_ALLOW_MODULES, or allow_modules in lab's settings.json)")

    p = _Parser(prog="lab", description="A reinforcement-learning and explainability lab for the terminal. "
                                "With no command, opens the dashboard.")
    p.add_argument("--version", action="version", version="lab 0.1.0")
    p.add_argument("--runs-dir", metavar="DIR", dest="dashboard_runs_dir",
                   help="runs root for the dashboard, or for the command after it (default: $LAB_RUNS_DIR or ./runs)")
    p.add_argument("--allow-module", dest="dashboard_allow_modules", action="append", default=[], metavar="MODULE",
                   help="for the dashboard, or the command after it: import this module where a run or sweep folder "
                        "names it (repeatable)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("dashboard", parents=[runs_dir, allow], help="open the dashboard (also: lab with no command)")
    ls = sub.add_parser("list", help="list the built-in experiments, or every setting of one")
    ls.add_argument("--params", metavar="NAME|FILE",
                    help="every setting of this experiment: its value in the file, the default, type and description")

    r = sub.add_parser("run", parents=[runs_dir, allow], help="run an experiment in the foreground",
                       description="Run an experiment. Exit 0 completed, 1 failed, 2 bad input, 130 stopped.")
    r.add_argument("experiment", metavar="NAME|FILE", help="built-in experiment name, .toml file, or run folder to repeat")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set agent.learning_rate=3e-4 (repeatable)")
    r.add_argument("--seed", type=SEED, help="random seed")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], help="torch device")
    r.add_argument("--json", action="store_true", help="print events as JSON lines")
    r.add_argument("--run-id", help=argparse.SUPPRESS)  # a sweep names its runs before they start
    r.add_argument("--sweep", help=argparse.SUPPRESS)  # ... and records itself in them
    # a population sweep's per-member settings, {key: [one value per member]} in a JSON file in
    # its folder: 65,536 members' values are more than a command line carries (128 KiB an argument)
    r.add_argument("--members", metavar="FILE", help=argparse.SUPPRESS)
    # the spec was named by a folder (a sweep's trial): its modules need an allowance (lab.plugins)
    r.add_argument("--spec-is-data", action="store_true", help=argparse.SUPPRESS)

    sw = sub.add_parser("sweep", parents=[runs_dir, allow], help="run a sweep: settings x seeds, searched and pruned",
                        description="Run a sweep file (kind = \"sweep\"): every trial's seeds as ordinary runs. "
                                    "Exit 0 completed, 1 failed, 2 bad input, 130 stopped (Ctrl-C stops every run cleanly).")
    sw.add_argument("sweep", metavar="NAME|FILE", nargs="?", help="built-in sweep name or sweep .toml file")
    sw.add_argument("--resume", metavar="SWEEP", help="continue a stopped sweep (id, id prefix, folder or name): "
                    "only what did not finish runs again")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="change a key of the sweep file for this sweep, the value read as TOML, e.g. --set "
                         "sweep.method=random or --set 'sweep.params.\"agent.gamma\"=[0.9, 0.99]' (a parameter's "
                         "choices or { low, high } range); repeatable; its folder's sweep.toml keeps the sweep as changed")
    sw.add_argument("--trials", metavar="N", help="settings to try (random and tpe): --set sweep.trials=N")
    sw.add_argument("--seeds", metavar="S,S,...", help="the seeds each setting runs with, e.g. --seeds 0,1 (a list, not a "
                    "count: --seeds 3 is seed 3 alone): --set sweep.seeds=[S, ...]")
    sw.add_argument("--backend", choices=["local", "population", "ray"], help="where the runs go (default: the file's)")
    sw.add_argument("--workers", type=number(int, 1, 256), metavar="N", help="runs at a time (default: the file's): "
                    "--set sweep.workers=N")
    sw.add_argument("--address", help="ray backend: the Ray cluster to join, e.g. 127.0.0.1:6379")
    sw.add_argument("--json", action="store_true", help="print one JSON line at the end: the best and every trial")

    rs = sub.add_parser("resume", parents=[runs_dir, allow], help="continue a stopped or crashed RL run from its latest checkpoint",
                        description="Continue a stopped or crashed RL run in its own folder from its latest resumable "
                                    "checkpoint (written every eval.checkpoint_every steps, and on a stop): step count, "
                                    "schedules, optimizer, RNGs and replay buffer; its curves go on where the checkpoint "
                                    "was. Every algorithm resumes, on both engines (the torch engine's runs and qlearning "
                                    "go on exactly as the uninterrupted run would). "
                                    "Exit 0 completed, 1 failed, 2 bad input (a completed, running, failed or attribution "
                                    "run, or no checkpoint), 130 stopped.")
    rs.add_argument("run", metavar="RUN", help="run id, unique id prefix or tail, path, or experiment name (its latest stopped or "
                    "crashed run, not a sweep's trial)")
    rs.add_argument("--json", action="store_true", help="print events as JSON lines")

    sub.add_parser("runs", parents=[runs_dir], help="list runs (and sweeps) with their state and results")

    st = sub.add_parser("stop", parents=[runs_dir], help="stop a running run (it checkpoints, then ends 'stopped') or sweep "
                        "(each of its runs does, then the sweep ends 'stopped')")
    st.add_argument("run", metavar="RUN|SWEEP", help="run or sweep id, unique id prefix, path, sweep name (its latest), or "
                    "experiment name (its latest running run, not a sweep's trial)")

    s = sub.add_parser("show", parents=[runs_dir, allow], help="a run's summary and return curve, or a sweep's table")
    s.add_argument("run", metavar="RUN|SWEEP", help="run or sweep id, unique id prefix, path, sweep name (its latest), or "
                   "experiment name (its latest completed run, not a sweep's trial)")
    s.add_argument("--png", metavar="PATH", help="write the performance profiles over seeds there: a sweep's best trials', "
                   "or a population's members' (one per setting)")

    cp = sub.add_parser("compare", parents=[runs_dir], help="runs over seeds: IQM with intervals, P(improvement), profiles",
                        description="Each experiment's completed runs (a population's members counted as runs) over seeds: "
                                    "the interquartile mean, mean, median and optimality gap of their final evaluations "
                                    "with 95%% stratified-bootstrap intervals, and the probability that a run of the best "
                                    "beats a run of each other experiment (rliable; 2,000 resamples, seeded).")
    cp.add_argument("runs", nargs="+", metavar="RUN", help="run id, unique id prefix, path, or experiment name (every completed "
                    "run of it that is not a sweep's trial)")
    cp.add_argument("--png", metavar="PATH", help="write the experiments' performance profiles there")
    cp.add_argument("--json", action="store_true", help="print the statistics as one JSON object")

    x = sub.add_parser("explain", parents=[runs_dir, allow], help="explain a finished run's model again (no retraining)",
                       description="Explain the model of a finished attribution run, or the policy of an RL run, "
                                   "with other methods or more inputs. Makes a new run folder.")
    x.add_argument("run", metavar="RUN", help=RUN_HELP)
    x.add_argument("--methods", nargs="+", metavar="METHOD", help="attribution methods (default: every one that applies)")
    x.add_argument("--samples", type=number(int, 1, 10_000), help="inputs to explain")
    x.add_argument("--json", action="store_true", help="print events as JSON lines")

    ex = sub.add_parser("export", parents=[runs_dir], help="write runs' series as TensorBoard event files",
                        description="Write each RL run's series (episode returns, rolling return, evaluations, every "
                                    "loss and schedule) as TensorBoard event files in DIR/<run id>, its settings as "
                                    "hyperparameters. A running run gives what it has written so far; a second export "
                                    "of a run replaces the first. Open them with `tensorboard --logdir DIR`. "
                                    "Exit 0 written, 2 bad input.")
    ex.add_argument("runs", nargs="+", metavar="RUN", help=RUN_HELP)
    ex.add_argument("--tensorboard", metavar="DIR", required=True, help="folder to write into (made if missing)")

    e = sub.add_parser("eval", parents=[runs_dir, allow], help="evaluate a run's delivered policy again")
    e.add_argument("run", metavar="RUN", help=RUN_HELP)
    e.add_argument("--episodes", type=number(int, 1, 10_000), default=20, help="episodes to run (default 20)")
    e.add_argument("--seed", type=SEED, help=f"seed of the first episode (default: the run's seed + {PLAY_SEED_OFFSET})")
    e.add_argument("--attack", choices=["noise", "fgsm"], help="perturb every observation before the policy sees it: "
                                                              "'noise' (random signs of size --epsilon per dimension) or 'fgsm' "
                                                              "(the sign of the gradient that most raises the loss of the policy's action)")
    e.add_argument("--epsilon", type=number(float, 0, 1e6), help="--attack: the L-infinity size of the perturbation, in observation units")
    e.add_argument("--json", action="store_true", help="print the result as JSON")

    pl = sub.add_parser("play", parents=[runs_dir, allow], help="watch a run's delivered policy play, drawn in the terminal")
    pl.add_argument("run", metavar="RUN", help=RUN_HELP)
    pl.add_argument("--episodes", type=number(int, 1, 1000), default=1, help="episodes to play (default 1)")
    pl.add_argument("--seed", type=SEED, help=f"seed of the first episode (default: the run's seed + {PLAY_SEED_OFFSET})")
    pl.add_argument("--fps", type=number(float, 0.1, 100), default=30.0, help="frames per second at most (default 30)")

    rc = sub.add_parser("record", parents=[runs_dir, allow], help="write one episode of a run's delivered policy as a GIF")
    rc.add_argument("run", metavar="RUN", help=RUN_HELP)
    rc.add_argument("--out", required=True, metavar="FILE.gif", help="the GIF to write")
    rc.add_argument("--seed", type=SEED, help=f"seed of the episode (default: the run's seed + {PLAY_SEED_OFFSET})")
    rc.add_argument("--fps", type=number(float, 0.1, 100), default=30.0, help="frames per second of the GIF (default 30)")

    im = sub.add_parser("import", help="turn another tool's settings into a lab experiment file")
    im_sub = im.add_subparsers(dest="source", metavar="SOURCE", required=True)
    zoo = im_sub.add_parser("rl-zoo", help="an RL Zoo hyperparameter entry (hyperparams/<algo>.yml) as an experiment file",
                            description="Convert the ENV_ID entry of an RL Zoo hyperparameter file into a lab experiment "
                                        "file (printed, or written to --out): n_timesteps, n_envs, schedules, "
                                        "policy_kwargs, normalize (SB3's VecNormalize), action noise, gSDE. A setting lab "
                                        "cannot honour is refused by name. FILE may be a bare name like ppo.yml: the "
                                        "installed rl_zoo3's file. Exit 0 converted, 2 bad input or refused.")
    zoo.add_argument("file", metavar="FILE.yml", help="RL Zoo hyperparameter file, e.g. ppo.yml")
    zoo.add_argument("env_id", metavar="ENV_ID", help="its entry, e.g. CartPole-v1")
    zoo.add_argument("--algo", help="the algorithm (default: the file's name, ppo.yml -> ppo)")
    zoo.add_argument("--out", metavar="FILE.toml", help="write the experiment file here (default: print it)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.dashboard_runs_dir and getattr(args, "runs_dir", None) is None:
        args.runs_dir = args.dashboard_runs_dir  # `lab --runs-dir DIR run ...`: the option before the command counts too
    import signal

    from lab.errors import BadInput
    from lab.plugins import allow

    try:
        allow([*args.dashboard_allow_modules, *getattr(args, "allow_modules", [])])
    except BadInput as e:
        print(f"lab: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import os

    runs_dir = getattr(args, "runs_dir", None) or args.dashboard_runs_dir
    if runs_dir and os.path.exists(runs_dir) and not os.path.isdir(runs_dir):
        print(f"lab: --runs-dir {runs_dir}: not a directory; name a folder of runs (or one to create)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command is None:  # the dashboard
        return cmd_dashboard(argparse.Namespace(runs_dir=args.dashboard_runs_dir))

    # SIGTERM ends a command as Ctrl-C does (exit 130, not 143); `lab run` handles both itself
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.command in ("run", "resume", "sweep"):
        sys.stdout = _ReaderGone(sys.stdout)
    try:
        return COMMANDS[args.command](args)
    except BadInput as e:
        from lab.display import printable

        print(f"lab: {printable(e, limit=4000)}", file=sys.stderr)  # it may quote a folder's ids and names
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_STOPPED
    except BrokenPipeError:
        return EXIT_OK
    finally:
        # The command's work is done and recorded: a late signal (a second Ctrl-C) must not kill
        # the process while it exits, which it would once Python resets its handlers at shutdown.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        # Nothing is left to collect: without this, the interpreter's shutdown walks every object
        # torch made (0.41 s of each torch command's exit here; 0.1 s with it)
        import gc

        gc.freeze()


class _ReaderGone:
    """stdout for commands that train: when what reads it goes away (`lab run X | head`), the
    output goes to /dev/null and the command stops as on Ctrl-C, its run checkpointed and
    `stopped` (resumable), instead of the BrokenPipeError failing the run mid-step."""

    def __init__(self, stream):
        self._stream, self._gone = stream, False

    def _closed(self) -> None:
        import os
        import signal

        if not self._gone:
            self._gone = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
            signal.raise_signal(signal.SIGTERM)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name):
        return getattr(self._stream, name)


# ------------------------------------------------------------------------------ lab list

def _list_params(ref: str) -> int:
    """Every setting of an experiment (or every key of a sweep file), as the dashboard's form shows them."""
    import tomllib

    from rich.table import Table

    from lab.errors import BadInput
    from lab.files import read_toml
    from lab.display import inline_toml
    from lab.spec import find_experiment, settings

    path = find_experiment(ref)
    try:
        raw = read_toml(path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    table = Table(box=None, header_style="bold", title=f"{raw.get('name', path.stem)}: every setting "
                  "(bold: set in the file; --set KEY=VALUE changes one)", title_justify="left")
    for col in ("key", "value", "default", "type", "description"):
        table.add_column(col, overflow="fold")
    from lab.sweep.spec import is_sweep_file
    from lab.sweep.spec import settings as sweep_settings

    from rich.markup import escape

    for s in (sweep_settings if is_sweep_file(raw) else settings)(raw):
        default = "(required)" if s.required else inline_toml(s.default) if s.default is not None else "-"
        value = inline_toml(s.value) if s.in_file else default
        value, default = escape(value), escape(default)  # text, not markup: "[members.agent]" stays as it is
        table.add_row(escape(s.key), f"[bold]{value}[/]" if s.in_file else f"[dim]{value}[/]", f"[dim]{default}[/]",
                      escape(s.type), escape(s.description), style=None)
    _print_table(table)
    return EXIT_OK


def cmd_list(args) -> int:
    import tomllib

    from rich.table import Table

    if args.params:
        return _list_params(args.params)

    from lab.spec import builtin_experiments

    table = Table(box=None, header_style="bold")
    for col in ("name", "kind", "algo", "env", "description"):
        table.add_column(col, overflow="fold")
    for name, path in builtin_experiments().items():
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            table.add_row(name, "?", "?", "?", "(unreadable)")
            continue
        table.add_row(name, raw.get("kind", "rl"), str(raw.get("agent", {}).get("algo", "")),
                      str(raw.get("env", {}).get("id", "")), raw.get("description", "").strip())
    _print_table(table)
    return EXIT_OK


def _print_table(table) -> None:
    """A Rich table on stdout: on a terminal, drawn at its width (100 columns at least), its title
    on a line of its own; into a pipe or a file, plain aligned columns, every row one whole line
    (lab.display.plain_table), never wrapped at a guessed width."""
    if not sys.stdout.isatty():
        from lab.display import plain_table

        print(plain_table(table))
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(width=max(Console().width, 100), highlight=False)
    if table.title:  # (a Table wraps its title to the table's own width, mid-phrase)
        title, table.title = table.title, None
        console.print(title if isinstance(title, Text) else Text.from_markup(title))
    console.print(table)


# ------------------------------------------------------------------------------ lab run

def _member_overrides(path: str) -> dict:
    """--members FILE: {"agent.learning_rate": [...], ...} -> {"members.agent.learning_rate": [...]}."""
    from lab.errors import BadInput
    from lab.files import read_json

    try:
        data = read_json(path)
    except (OSError, ValueError) as e:
        raise BadInput(f"--members {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, list) for k, v in data.items()):
        raise BadInput(f"--members {path}: expected a JSON object of setting -> list of one value per member")
    return {f"members.{key}": values for key, values in data.items()}


def _load(args):
    from lab.spec import load_experiment, parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    if args.members is not None:
        overrides.update(_member_overrides(args.members))
    # a folder's spec (or one a sweep passes on) names modules only the user may allow
    return load_experiment(args.experiment, overrides, from_folder=True if args.spec_is_data else None)


def cmd_run(args) -> int:
    return _run_and_report(_load(args), args)


def cmd_resume(args) -> int:
    from lab import launch
    from lab.summary import RunState

    target = _named_run(args, "resume", states=(RunState.STOPPED, RunState.CRASHED))
    spec, _ = launch.resumable(target)  # a refusal before anything is printed
    return _run_and_report(spec, args, lambda spec, runs_dir, on_event=None: launch.resume(target, on_event))


def _run_and_report(spec, args, run=None) -> int:
    """Run `spec` with `run(spec, runs_dir, on_event)` (default: launch.run) and report as it goes."""
    import functools

    from lab import launch

    run = run or functools.partial(launch.run, run_id=getattr(args, "run_id", None), sweep=getattr(args, "sweep", None))
    if args.json:
        def on_event(event):
            print(json.dumps(event), flush=True)
        result = run(spec, args.runs_dir, on_event)
        print(json.dumps({"kind": "summary", **json.loads(result.summary.to_json())}), flush=True)
    elif sys.stdout.isatty():
        result = _run_with_bar(spec, args.runs_dir, run)
    else:
        result = _run_plain(spec, args.runs_dir, run)
    return exit_code(result.state)


def _eval_line(e: dict) -> str:
    tag = "final eval" if e.get("final") else "eval"
    star = " (new best)" if e.get("best") else ""
    return f"step {e['step']:>10,}  {tag} {e['mean']:.2f} +/- {e['std']:.2f} over {e['episodes']} episodes{star}"


def _end_line(result) -> str:
    s, r = result.summary, result.results
    line = f"{s.state} in {s.duration_seconds:.1f} s"
    if r.final_eval_return_mean is not None:
        line += (f": final eval {r.final_eval_return_mean:.2f} +/- {r.final_eval_return_std:.2f}"
                 f" ({r.final_eval_episodes} episodes), best eval {r.best_eval_return_mean:.2f}"
                 f" at step {r.best_eval_step:,}, {r.steps_per_second:,.0f} steps/s")
    if r.most_faithful_method:
        if r.test_accuracy is not None:
            line += f": test accuracy {r.test_accuracy:.3f}"
        line += (f"; {len(r.methods)} methods, most faithful by deletion AUC: {r.most_faithful_method}"
                 f" ({r.deletion_auc[r.most_faithful_method]:.3f}, random order {r.random_deletion_auc:.3f})")
        if r.best_ranked_method:
            line += f"; first across the metrics: {r.best_ranked_method}"
        if r.failing_sanity_check:
            line += f"; failing the randomisation test: {', '.join(r.failing_sanity_check)}"
    if s.error:
        from lab.display import printable

        line += f": {printable(s.error)} (traceback in {result.events_path})"
    return f"{line}\n  run folder: {result.path}"


def _method_line(e: dict) -> str:
    return f"  {e['name']:<22} {e['seconds_per_sample'] * 1000:>10.2f} ms per input"


def _run_plain(spec, runs_dir, run):
    from lab.display import printable
    from lab.summary import RunState

    def on_event(e):
        kind = e["kind"]
        if kind == "eval":
            print(_eval_line(e), flush=True)
        elif kind == "method":
            print(_method_line(e), flush=True)
        elif kind == "log" and e.get("level") != "error":
            print(printable(e["message"], newlines=True), flush=True)
        elif kind == "status" and e["state"] == RunState.RUNNING:
            print(f"running {spec.name} ({e.get('message', '')})", flush=True)

    result = run(spec, runs_dir, on_event)
    print(_end_line(result), flush=True)
    return result


def _run_with_bar(spec, runs_dir, run):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console()
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("return {task.fields[rolling]}"), TextColumn("{task.fields[sps]} steps/s"),
        TextColumn("ETA"), TimeRemainingColumn(), console=console, refresh_per_second=4,
    )
    rl = spec.kind == "rl"
    if rl:
        task = progress.add_task(spec.name, total=spec.agent.total_steps, rolling="-", sps="-")
    else:
        progress.columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                            TextColumn("{task.fields[phase]}"))
        task = progress.add_task(spec.name, total=1.0, phase="starting")

    def on_event(e):
        kind = e["kind"]
        if kind == "progress" and rl:
            progress.update(task, completed=min(e["step"], e["total"]), sps=f"{e['steps_per_second']:,.0f}",
                            rolling="-" if e.get("rolling_return") is None else f"{e['rolling_return']:.1f}")
        elif kind == "progress":
            phase = e.get("phase", "")
            what = f"{phase} {e.get('method', '')}" if phase != "train" else f"train epoch {e['step']}"
            progress.update(task, completed=e.get("fraction", 0.0), phase=what)
        elif kind == "method":
            progress.console.print(_method_line(e))
        elif kind == "eval":
            progress.console.print(_eval_line(e))
        elif kind == "log" and e.get("level") != "error":
            from lab.display import printable

            progress.console.print(printable(e["message"], newlines=True), markup=False)

    with progress:
        result = run(spec, runs_dir, on_event)
    console.print(_end_line(result), markup=False)
    return result


# ------------------------------------------------------------------------------ lab runs / show / stop

def cmd_runs(args) -> int:
    from lab.display import duration, number, printable, shown_progress
    from lab.errors import BadInput
    from lab.store import list_runs, runs_root
    from lab.summary import RunState

    from lab.sweep.record import list_sweeps

    runs = list_runs(args.runs_dir)
    sweeps = list_sweeps(args.runs_dir)
    if not runs and not sweeps:
        print(f"no runs in {runs_root(args.runs_dir)} yet; start one with `lab run cartpole-ppo`")
        return EXIT_OK
    of_sweep: dict[str, str] = {}  # run id -> what it is of its sweep ('tiny #2', 'pop, 6 members')
    if sweeps:
        rows, broken = [], []
        for folder in sweeps:
            try:
                r = folder.read()
                of_sweep.update(_sweep_parts(r))
                best = r.best()
                done = sum(t.finished for t in r.trials)
                rows.append((r.id, r.name, r.live_state, r.backend, f"{done}/{r.total_trials}",
                             number(best.value) if best else "-", r.metric))
            except Exception as e:  # a broken sweep is one row and one line, and hides nothing else
                rows.append((folder.id, "?", RunState.CORRUPT, "-", "-", "-", "-"))
                broken.append(f"{printable(folder.id)}: corrupt: {printable(str(e) if isinstance(e, BadInput) else repr(e))}")
        print(_columns(("sweep", "name", "state", "backend", "trials", "best", "metric"), rows, right={4, 5},
                       state_col=2, color=sys.stdout.isatty()))
        for line in broken:  # why, one line each under the table
            print(line)
        if not runs:
            return EXIT_OK
        print()
    header = ("id", "experiment", "state", "progress", "best eval", "final eval", "duration")
    in_sweeps = any(r.summary.sweep for r in runs)
    if in_sweeps:  # a sweep's run says so: a name calls no sweep's run (`lab show ID` takes it)
        header += ("sweep",)
    rows = []
    for r in runs:
        state = r.state
        shown = shown_progress(state, r.summary.progress)  # as the dashboard's runs table says it
        rows.append((r.id, r.experiment, state, f"{shown.percent} {shown.phase}".strip(),
                     number(r.results.best_eval_return_mean), number(r.results.final_eval_return_mean), duration(r.seconds))
                    + ((of_sweep.get(r.id, r.summary.sweep or ""),) if in_sweeps else ()))
    print(_columns(header, rows, right={3, 4, 5, 6}, state_col=2, color=sys.stdout.isatty()))
    for r in runs:  # why a run is broken or failed, one line each under the table
        if r.problem:
            print(f"{printable(r.id)}: corrupt: {printable(r.problem)}")
        elif r.state == RunState.FAILED and r.summary.error:
            print(f"{printable(r.id)}: failed: {printable(r.summary.error)}")
    return EXIT_OK


def _sweep_parts(record) -> dict[str, str]:
    """Each run of a sweep -> what it is of it, for `lab runs`: a trial's run 'tiny #2', a
    population's one run 'pop, 6 members' (its trials' seeds are its members)."""
    from lab.sweep.report import members, sweep_runs

    if members(record):
        return {run: f"{record.name}, {count} members" for run, count in sweep_runs(record).items()}
    return {j.run: f"{record.name} #{t.number}" for t in record.trials for j in t.jobs}


# ANSI colours of the display module's state styles; a thousand rows print in milliseconds
_ANSI = {"green": "32", "bold cyan": "1;36", "cyan": "36", "bold red": "1;31", "bold magenta": "1;35", "yellow": "33"}


def _columns(header, rows, right: set[int], state_col: int, color: bool) -> str:
    """Aligned columns (those in `right` right-aligned), the state column coloured on a terminal;
    every cell printable (folders name ids, experiments and states)."""
    from lab.display import STATE_STYLE, printable

    rows = [[printable(cell, limit=200) for cell in row] for row in rows]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(row, bold=False):
        cells = []
        for i, (cell, width) in enumerate(zip(row, widths)):
            text = str(cell).rjust(width) if i in right and not bold else str(cell).ljust(width)
            code = "1" if bold else _ANSI.get(STATE_STYLE.get(cell, "")) if i == state_col else None
            cells.append(f"\x1b[{code}m{text}\x1b[0m" if color and code else text)
        return "  ".join(cells).rstrip()

    return "\n".join([line(header, bold=True), *(line(row) for row in rows)])


def cmd_stop(args) -> int:
    import lab
    from lab.display import printable
    from lab.summary import RunState
    from lab.sweep.record import find_sweep

    target = find_sweep(args.run, args.runs_dir) or _named_run(args, "stop", states=(RunState.RUNNING,))
    print(printable(lab.stop(target, args.runs_dir)))
    return EXIT_OK


def _named_run(args, command: str, ref: str | None = None, states=None):
    """The run a command's RUN names (`lab.store.resolve_run`: by id, or the run called NAME,
    the latest of that experiment in `states`, completed by default, never a sweep's trial); a
    newer run of the name passed over is noted on stderr."""
    from lab.display import printable
    from lab.store import COMPLETED_ONLY, resolve_run

    def note(line: str) -> None:
        print(f"lab: {printable(line)}", file=sys.stderr, flush=True)

    return resolve_run(args.run if ref is None else ref, args.runs_dir, states=states or COMPLETED_ONLY,
                       use=f"lab {command}", note=note)


def cmd_show(args) -> int:
    from lab.display import duration, shown_progress
    from lab.display import printable as p  # every text below but lab's own came from the folder
    from lab.events import series
    from lab.summary import RunState
    from lab.termplot import line_chart

    from lab.sweep.record import find_sweep

    sweep = find_sweep(args.run, args.runs_dir)
    if sweep is not None:
        from lab.errors import BadInput
        from lab.sweep.record import SweepCorrupt
        from lab.sweep.report import seed_statistics, write_best, write_profiles

        try:
            record = sweep.read()
        except SweepCorrupt as e:  # shown as a corrupt run is
            print(f"{p(sweep.id)}  ({p(str(sweep.path))})\n  state corrupt: {p(str(e))}")
            return EXIT_OK
        best = sweep.best_path
        if not best.exists() and record.live_state != RunState.RUNNING:
            try:
                best = write_best(sweep, record)
            except BadInput as e:  # the sweep is shown all the same
                print(f"lab: {p(sweep.id)}: no best.toml ({p(str(e))})", file=sys.stderr)
                best = None
        # the statistics over seeds (a bootstrap per trial): once, for the table and the picture
        rows = seed_statistics(record) if len(record.seeds) > 1 and record.live_state != RunState.RUNNING else []
        profile = None
        if args.png:
            profile = write_profiles(record, args.png, rows)
            if profile is None:
                raise BadInput(f"lab show {p(sweep.id)} --png: no trial complete over two or more seeds, so no profiles to draw")
        _print_sweep(sweep, record, best if best is not None and best.exists() else None, profile, rows)
        return EXIT_OK
    run = _named_run(args, "show")
    member_groups = _member_groups(run)  # a population's final evaluations by setting: its statistics and profiles
    if args.png and not member_groups:  # checked before anything is printed: one line, exit 2
        from lab.errors import BadInput

        raise BadInput(f"lab show {p(run.id)} --png: not a completed population (profiles need 2 or more members); "
                       "for runs of one experiment: lab compare RUN... --png PATH")
    s = run.summary
    print(f"{p(run.id)}  ({p(run.path)})")
    if run.problem:
        print(f"  state corrupt: {p(run.problem)}")
        return EXIT_OK
    through = f" through {p(s.env_path)}" if s.env_path else ""
    print(f"  experiment {p(s.experiment)}  kind {p(s.kind)}  algo {p(s.algo)}  env {p(s.env)}{through}  seed {s.seed}")
    print(f"  state {p(run.state)}  duration {duration(run.seconds)}  device {p(s.device)} ({p(s.device_reason)}), "
          f"{s.threads} thread(s)")
    shown = shown_progress(run.state, s.progress)  # as the dashboard's runs table and live view say it
    if shown.label:
        print(f"  progress {shown.label} {shown.percent}")
    elif s.progress.total:
        print(f"  progress {s.progress.step:,} / {s.progress.total:,} steps" + (f" ({shown.early})" if shown.early else ""))
    if s.prerequisites:
        print(f"  prerequisites {p(', '.join(s.prerequisites))}")
    results = s.results.model_dump(exclude_none=True)
    if results:
        print("  results")
        for key, value in results.items():
            if isinstance(value, (dict, list)):
                continue  # shown as tables below (or in summary.json)
            print(f"    {p(key):<26} {value:,.4g}" if isinstance(value, float) else f"    {p(key):<26} {p(value)}")
    if args.png:
        _write_member_profiles(run, member_groups, args.png)
    if isinstance(s.results.members, list):
        _print_member_statistics(run, member_groups)
        _print_members(s.results.members, s.results.best_member)
    if s.error:
        print(f"  error {p(s.error)}")
    if s.kind == "attribution":
        _print_comparison(run)
        _print_robustness(run)
    scanned = run.scan({"episode", "episodes", "eval", "log", "pbt"})  # bounded: samples a huge file's episodes
    if scanned.note():
        print(f"  {scanned.note()}")
    _print_pbt(run, [e for e in scanned.events if e["kind"] == "pbt"])
    ep_steps, rolling = series(scanned.events, "episode", "rolling_return")
    evals = series([e for e in scanned.events if e["kind"] == "eval" and not e.get("final")], "eval", "mean")
    if ep_steps:
        stride = max(len(ep_steps) // 240, 1)
        print("\n  return: rolling mean of 100 episodes (line), and evaluations (◆)")
        chart = line_chart([(ep_steps[::stride], rolling[::stride]), evals], width=64, height=12, markers={1: "◆"})
        print("\n".join("  " + line for line in chart.splitlines()))
    if run.state in (RunState.FAILED, RunState.CRASHED, RunState.STOPPED):
        print("\n  last log lines")
        for line in run.last_log_lines(5, scanned.events):
            print("    " + p(line.strip().splitlines()[-1]) if line.strip() else "")
    return EXIT_OK


def _target_return(run) -> float | None:
    """The return a run's experiment aims at: its eval.target_return, else the environment's
    registered reward threshold (CartPole-v1: 475), else None."""
    try:
        import tomllib

        spec = tomllib.loads(run.spec_path.read_text())
        target = spec.get("eval", {}).get("target_return")
        if isinstance(target, (int, float)) and not isinstance(target, bool):
            return float(target)
        import gymnasium

        entry = gymnasium.envs.registry.get(str(spec.get("env", {}).get("id", "")))
        return float(entry.reward_threshold) if entry is not None and entry.reward_threshold is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _member_groups(run) -> dict[str, list[float]]:
    """A completed population's members' final evaluations by setting ("experiment lr=0.01" -> scores;
    groups of 2 or more); {} for any other run."""
    from lab import stats

    return {name: scores for name, scores in stats.final_scores([run]).items() if len(scores) >= 2}


def _write_member_profiles(run, groups: dict[str, list[float]], path) -> None:
    """`lab show RUN --png PATH` of a population: its members' performance profiles, one per setting."""
    from lab import stats
    from lab.display import printable

    stats.write_profiles(path, stats.profiles(groups), f"{run.id}: its members' final evaluations")
    print(f"  performance profiles of its members: {printable(str(path))}")


def _print_member_statistics(run, groups: dict[str, list[float]]) -> None:
    """IQM, mean, median and optimality gap of a population's final evaluations (`_member_groups`)
    with 95% intervals (lab.stats, rliable), one line per setting where the members' settings differ."""
    from lab import stats
    from lab.display import printable

    groups = {name.removeprefix(run.experiment).strip(): scores for name, scores in groups.items()}
    if not groups:
        return
    gamma = _target_return(run)
    print(f"\n  final evaluations over members: interquartile mean (IQM), mean, median{' and optimality gap to ' + format(gamma, 'g') if gamma is not None else ''}"
          f" with 95% stratified-bootstrap intervals (rliable, {stats.REPS:,} resamples, seed 0)")
    for own, scores in groups.items():
        print(f"   {printable(own) + '  ' if own else ''}{len(scores)} members  {_estimates_text(stats.aggregates(scores, gamma))}")


def _print_pbt(run, events: list[dict], shown: int = 20) -> None:
    """Population-based training's record (its `pbt` events): the schedules the delivered (or
    leading) member's line went through, and the family tree, one row per member."""
    from lab.display import printable, short_value
    from lab.rl import pbt

    rounds = pbt.read_rounds(events)
    if not rounds:
        return
    rows = pbt.family(rounds)
    info = run.summary.results.pbt if isinstance(run.summary.results.pbt, dict) else {}
    copies = sum(len(r["copies"]) for r in rounds)
    fixed = " (evolve = false: members keep their first values)" if info.get("evolve") is False else ""
    print(f"\n  population-based training{fixed}: {len(rounds) - 1} rounds to step {rounds[-1]['step']:,}, {copies} copies")
    best = run.summary.results.best_member
    if not (isinstance(best, int) and 0 <= best < len(rows)):  # before it delivers: the best latest fitness
        best = max(range(len(rows)), key=lambda m: rows[m]["fitness"] if rows[m]["fitness"] is not None else float("-inf"))
    print(f"  schedules of member {best}'s line (the values it trained with, from the step each took effect)")
    for name in rounds[-1]["hyperparameters"]:
        steps, values = pbt.schedule(rounds, best, name)
        changes = [(s, v) for i, (s, v) in enumerate(zip(steps, values)) if i == 0 or v != values[i - 1]]
        text = " -> ".join(f"{short_value(v)} at {s:,}" for s, v in changes[:8]) + (" ..." if len(changes) > 8 else "")
        print(f"    {printable(name):<16} {text}")
    names = list(rounds[-1]["hyperparameters"])
    print("  family tree: each member's founder (whose first weights its weights descend from) and its line back")
    lines = {row["member"]: pbt.line_text(row["line"], 2) for row in rows[:shown]}
    width = max(len("line back"), *map(len, lines.values()))
    print(f"    {'member':>6}  {'founder':>7}  {'line back':<{width}} " + "  ".join(f"{printable(n, limit=16):>13}" for n in names)
          + f"  {'fitness':>9}")
    for row in rows[:shown]:
        fitness = "-" if row["fitness"] is None else f"{row['fitness']:.2f}"
        print(f"    {row['member']:>6}  {row['founder']:>7}  {lines[row['member']]:<{width}} "
              + "  ".join(f"{short_value(row['hyperparameters'][n]):>13}" for n in names) + f"  {fitness:>9}")
    if len(rows) > shown:
        print(f"    ... and {len(rows) - shown} more (every round is a `pbt` event in events.jsonl)")


def _estimates_text(a: dict) -> str:
    """'IQM x [lo, hi]  mean ...  median ...  gap ...' of lab.stats.aggregates (the gap where there is a target)."""
    from lab.stats import interval

    gap = f"  gap {interval(a['optimality_gap'])}" if a["optimality_gap"] is not None else ""
    return f"IQM {interval(a['iqm'])}  mean {interval(a['mean'])}  median {interval(a['median'])}{gap}"


def _print_members(members: list, best, shown: int = 20) -> None:
    """A population's members, strongest final evaluation first (the first `shown`)."""
    def final(m):
        v = m.get("final_eval_return_mean") if isinstance(m, dict) else None
        return v if isinstance(v, (int, float)) else float("-inf")

    from lab.display import printable, short_value

    def cell(v):
        return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else printable(v, limit=80)

    rows = sorted((m for m in members if isinstance(m, dict)), key=final, reverse=True)
    print(f"\n  members ({len(rows)}), strongest final evaluation first; * the delivered one")
    for m in rows[:shown]:
        own = "  ".join(f"{cell(k.removeprefix('agent.'))}={printable(short_value(v), limit=80)}" for k, v in m.items() if k.startswith("agent."))
        mark = "*" if m.get("member") == best else " "
        print(f"   {mark}{cell(m.get('member')):>5}  seed {cell(m.get('seed')):<6} final {cell(m.get('final_eval_return_mean')):>9}"
              f"  best {cell(m.get('best_eval_return_mean')):>9} at step {cell(m.get('best_eval_step')):<8} {own}".rstrip())
    if len(rows) > shown:
        print(f"    ... and {len(rows) - shown} more in summary.json")


def _print_comparison(run) -> None:
    from lab.display import printable
    from lab.files import read_json

    from lab.store import COMPARISON

    path = run.artifact(COMPARISON)
    if not path.is_file():
        print("\n  (no comparison yet)")
        return
    try:
        c = read_json(path)
        _print_comparison_table(run, c)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"\n  {run.relpath(path)} cannot be read ({type(e).__name__}: {printable(e)}); the summary above stands")


def _print_robustness(run) -> None:
    from lab.display import printable, robustness_lines
    from lab.files import read_json

    from lab.store import ROBUSTNESS

    path = run.artifact(ROBUSTNESS)
    if not path.is_file():
        return
    try:
        lines = robustness_lines(read_json(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        print(f"\n  {run.relpath(path)} cannot be read ({type(e).__name__}: {printable(e)}); the summary above stands")
        return
    print(f"\n  robustness ({run.relpath(path)})")
    print("\n".join("  " + printable(line) for line in lines))


def _print_comparison_table(run, c: dict) -> None:
    from lab.display import printable as p

    methods = c["methods"]
    print(f"\n  comparison over {p(c['samples'])} inputs ({p(c['output'])} of the target class); deletion: lower is more"
          " faithful, insertion: higher")
    head = f"  {'method':<22} {'library':<7} {'ms/input':>9} {'deletion':>9} {'insertion':>9} {'infidelity':>10} {'sensitivity':>11} {'completeness':>12} {'std.err':>8} {'spearman':>8}"
    print(head)
    print("  " + "-" * (len(head) - 2))
    rho = c["pairs"]["spearman"]

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-".rjust(int(fmt[1:].split(".")[0]))

    for name in sorted(methods, key=lambda m: methods[m]["deletion_auc"]):
        m = methods[name]
        others = [v for k, v in rho[name].items() if k != name and v is not None]
        mean_rho = sum(others) / len(others) if others else None
        print(f"  {p(name):<22} {p(m['library']):<7} {m['seconds_per_sample'] * 1000:>9.2f} {m['deletion_auc']:>9.3f} "
              f"{m['insertion_auc']:>9.3f} {f(m['infidelity'], '>10.3g')} {f(m['sensitivity_max'], '>11.3g')} "
              f"{f(m['completeness_error'], '>12.2%')} {f(m.get('standard_error'), '>8.2%')} {f(mean_rho, '>8.2f')}")
    r = c["random"]
    print(f"  {'random order':<22} {'':<7} {'':>9} {r['deletion_auc']:>9.3f} {r['insertion_auc']:>9.3f}")
    print("  completeness: |sum of attributions - (f(x) - f(reference))| relative to the gap, for methods with that axiom;"
          " std.err: the largest standard error relative to the attributions' range (methods that estimate it, 0 when exact);"
          " spearman: mean rank correlation with the other methods")
    for name, reason in c.get("skipped", {}).items():
        print(f"  {p(name)}: skipped ({p(reason)})")
    if isinstance(c.get("population"), dict) and c["population"].get("methods"):
        _print_population(c["population"])
    if isinstance(c.get("policy"), dict):
        _print_policy_faithfulness(c["policy"])
    if isinstance(c.get("ranking"), dict):
        _print_ranking(c)
    print(f"  figures: {run.artifact('*.png')}")


def _print_population(pop: dict) -> None:
    """Do a population's members rely on the same features: agreement per method, features per member."""
    from lab.display import printable as p

    methods = pop["methods"]
    first = next(iter(methods.values()))
    names = list(first["feature_share"])
    count = f"{p(pop['members'])} members" if pop["members"] != 1 else "members (only 1: no population)"
    print(f"\n  do the {count} agree? each explained on the same {p(first['states'])} states (its own action;"
          f" {pop.get('action_agreement', 0):.0%} of actions as member 0's)")
    print(f"  {'method':<22} {'spearman':>8} {'top-' + str(first['k']):>6}  relied on by every member")
    for name, r in methods.items():
        print(f"  {p(name):<22} {r['spearman'] if r['spearman'] is not None else '-':>8} "
              f"{r['top_k_agreement'] if r['top_k_agreement'] is not None else '-':>6}  {p(', '.join(r['relied_on_by_all']) or '-')}")
    width = max(len(n) for n in names)
    print(f"\n  share of members with the feature in their top {p(first['k'])} (and its mean share of |attribution|)")
    print("  " + " " * width + "".join(f" {p(m)[:14]:>15}" for m in methods))
    for f in names:
        print(f"  {p(f):<{width}}" + "".join(f" {methods[m]['in_top_k'][f]:>6.0%} ({methods[m]['feature_share'][f]:>5.1%})" for m in methods))


def _print_policy_faithfulness(policy: dict) -> None:
    from lab.display import printable as p

    print(f"\n  the policy without each method's top {p(policy['k'])} features (higher is more faithful): action flips on the"
          f" explained states; return drop over {p(policy['episodes'])} episodes with them masked (return {p(policy['return'])} unmasked)")
    print(f"  {'method':<22} {'action flips':>12} {'masked return':>13} {'return drop':>11}")
    rows = {**policy.get("methods", {}), "random": policy.get("random", {})}
    for name, m in sorted(rows.items(), key=lambda kv: -(kv[1].get("return_drop") or 0)):
        print(f"  {p(name):<22} {m.get('action_flip_rate', 0):>12.1%} {m.get('masked_return', 0):>13.1f} {m.get('return_drop', 0):>11.1%}")


def _print_ranking(c: dict) -> None:
    """The ranking across metrics (lab.xai.ranking) with the metrics behind it and the sanity check."""
    from lab.display import printable as p

    ranking, methods = c["ranking"], {**c["methods"], "random": c["random"]}
    agreement = ranking.get("metric_agreement")
    print(f"\n  ranking across metrics (LATEC: median-standardised, averaged per category; metrics agree with one another at"
          f" Spearman {agreement if agreement is not None else '-'}); random: a random attribution, the control")
    head = (f"  {'rank':>4} {'method':<22} {'faith.':>6} {'robust.':>7} {'compl.':>6} {'sanity':>6} {'ranks':>7} "
            f"{'PGI':>8} {'PGU':>8} {'RIS':>7} {'ROS':>7} {'sparse':>6} {'randomised':>10}")
    print(head)
    print("  " + "-" * (len(head) - 2))

    def f(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) else "-".rjust(int(fmt[1:].split(".")[0]))

    for name, r in sorted(ranking["methods"].items(), key=lambda kv: kv[1]["rank"]):
        m = methods.get(name, {})
        cat = {k: v["rank"] for k, v in r["categories"].items()}
        test = m.get("randomisation") if isinstance(m.get("randomisation"), dict) else {}
        sanity = f(test.get("score"), ">6.2f") + (" fails" if test.get("fails") else "")
        print(f"  {r['rank']:>4} {p(name):<22} {f(cat.get('faithfulness'), '>6')} {f(cat.get('robustness'), '>7')} "
              f"{f(cat.get('complexity'), '>6')} {f(cat.get('sanity'), '>6')} {str(r['best_rank']) + '-' + str(r['worst_rank']):>7} "
              f"{f(m.get('pgi'), '>8.3g')} {f(m.get('pgu'), '>8.3g')} {f(m.get('ris'), '>7.2f')} {f(m.get('ros'), '>7.2f')} "
              f"{f(m.get('sparseness'), '>6.2f')} {sanity:>10}")
    print("  faith./robust./compl./sanity: the rank in each category; ranks: best-worst over the single metrics; PGI higher and"
          " PGU lower are more faithful (OpenXAI); RIS/ROS: log10 relative stability, lower is steadier; sparse: Gini of"
          " |attributions|; randomised: Spearman of |attributions| before and after the weights are randomised"
          f" ({p(c.get('randomisation', 'cascading'))}), 0.5 or more fails")


# ------------------------------------------------------------------------------ lab compare

def cmd_compare(args) -> int:
    from lab import stats
    from lab.display import printable as p
    from lab.errors import BadInput
    from lab.store import COMPLETED_ONLY, list_runs, resolve_run, run_by_id

    every = list_runs(args.runs_dir)
    chosen: dict[str, object] = {}
    for ref in args.runs:
        run = run_by_id(ref, every, args.runs_dir)
        named = [r for r in every if r.experiment == ref and not r.summary.sweep and r.state in COMPLETED_ONLY]
        for r in [run] if run is not None else named or [resolve_run(ref, args.runs_dir, use="lab compare")]:
            chosen[r.id] = r
    scores = stats.final_scores(chosen.values())
    if not any(len(v) >= 2 for v in scores.values()):
        raise BadInput(f"lab compare: {len(chosen)} run(s) give no experiment 2 or more completed runs with a final evaluation "
                       "(the least an interval needs); name more runs, or an experiment's name for all of its runs")
    targets = {_target_return(r) for r in chosen.values()}
    gamma = next(iter(targets)) if len(targets) == 1 else None  # the runs' one target return, or none
    rows = stats.compare(scores, gamma=gamma, limit=len(scores))
    prof = stats.profiles({r["name"]: r["scores"] for r in rows})
    if args.png:
        stats.write_profiles(args.png, prof, f"final evaluation returns of {len(chosen)} runs over seeds")
    if args.json:
        print(json.dumps({"experiments": rows, "profiles": prof, "png": args.png}))
        return EXIT_OK
    print(f"final evaluations over seeds, best first: interquartile mean (IQM), mean, median"
          f"{' and optimality gap to ' + format(gamma, 'g') if gamma is not None else ''} with 95% stratified-bootstrap"
          f" intervals (rliable, {stats.REPS:,} resamples, seed 0); a population's members count as runs")
    for r in rows:
        print(f"  {p(r['name'])}  {r['aggregates']['runs']} runs  {_estimates_text(r['aggregates'])}")
    for r in rows[1:]:
        told = "distinguishable (the IQM intervals do not overlap)" if r["distinguishable"] else \
            "not distinguishable (the IQM intervals overlap)"
        print(f"P({p(rows[0]['name'])} > {p(r['name'])}) = {stats.interval(r['vs_best'], '.2f')}: {told}")
    left = sorted(set(scores) - {r["name"] for r in rows})
    if left:
        print(p(f"left out (fewer than 2 completed runs with a final evaluation): {', '.join(left)}"))
    if args.png:
        print(p(f"performance profiles: {args.png}"))
    return EXIT_OK


# ------------------------------------------------------------------------------ lab explain

def cmd_explain(args) -> int:
    import tomllib

    from lab.errors import BadInput
    from lab.spec import validate
    from lab.summary import RunState

    run = _named_run(args, "explain")
    if run.state != RunState.COMPLETED:
        raise BadInput(f"{run.id}: is {run.state}; `lab explain` needs a completed run")
    kind = run.kind
    from lab.files import read_toml

    try:
        raw = read_toml(run.spec_path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{run.id}: spec.toml cannot be read ({getattr(e, 'strerror', None) or e})") from None
    if kind == "attribution":
        raw.pop("data", None)
        raw.pop("robustness", None)  # explain again; attacking again is `lab run` of the experiment
        if not isinstance(raw.get("model"), dict):  # a summary that says attribution over another kind's spec
            raise BadInput(f"{run.id}: spec.toml has no [model] table, which an attribution run's spec holds "
                           f"(its summary says kind 'attribution'): the folder is corrupt")
        if run.results.policy_run:
            raw["model"] = {"from_run": run.results.policy_run, "rollout_episodes": raw["model"].get("rollout_episodes", 5)}
        else:
            raw["model"] = {"from_run": run.path.name}
    elif kind == "rl":
        raw = {"name": f"{run.experiment}-attributions"[:64], "kind": "attribution", "seed": raw.get("seed", 0),
               "threads": raw.get("threads", 1), "model": {"from_run": run.path.name}}
    else:
        raise BadInput(f"{run.path.name}: unknown kind {kind!r}")
    explain = raw.setdefault("explain", {})
    if args.methods:
        explain["methods"] = args.methods
    if args.samples is not None:
        explain["samples"] = args.samples
    spec = validate(raw, f"lab explain {run.path.name}", {"explain.methods", "explain.samples"}, from_folder=True)
    return _run_and_report(spec, args)


# ------------------------------------------------------------------------------ lab eval

def cmd_eval(args) -> int:
    from lab.errors import BadInput
    from lab.spec import load_experiment

    run = _named_run(args, "eval")
    spec = load_experiment(run.spec_path)
    if spec.kind != "rl":
        raise BadInput(f"{run.path.name}: is an {spec.kind} run, not an RL run; `lab eval` evaluates RL policies (try `lab show` or `lab explain`)")
    _check_attack(args, spec)
    from lab.rl.evaluate import evaluate
    from lab.rl.seeds import PLAY_SEED_OFFSET
    from lab.rl.train import load_delivered_policy, prepare

    device = prepare(spec, requested="auto" if spec.device == "cuda" else None, training=False).device
    import torch

    torch.set_num_threads(spec.threads)
    policy, policy_path = load_delivered_policy(run, spec, device)
    seed = args.seed if args.seed is not None else spec.seed + PLAY_SEED_OFFSET
    act = policy.act
    if args.attack:
        from lab.xai.policy_robustness import attacked_policy

        act = attacked_policy(policy, args.attack, args.epsilon, seed)
    returns, _ = evaluate(act, spec, args.episodes, seed, spec.eval.deterministic)
    recorded = run.results
    out = {"run": run.id, "policy": run.relpath(policy_path), "episodes": len(returns),
           "seed": seed, "return_mean": float(returns.mean()), "return_std": float(returns.std()),
           "attack": args.attack, "epsilon": args.epsilon,
           "recorded_final_eval_return_mean": recorded.final_eval_return_mean,
           "recorded_final_eval_return_std": recorded.final_eval_return_std}
    if args.json:
        print(json.dumps(out))
        return EXIT_OK
    attacked = f" under {args.attack} (epsilon {args.epsilon:g})" if args.attack else ""
    from lab.display import printable

    print(f"{printable(run.id)}: {printable(out['policy'])} over {len(returns)} episodes (seed {seed}){attacked}: "
          f"return {out['return_mean']:.2f} +/- {out['return_std']:.2f}")
    if out["recorded_final_eval_return_mean"] is not None:
        print(f"  recorded final evaluation: {out['recorded_final_eval_return_mean']:.2f} +/- "
              f"{out['recorded_final_eval_return_std']:.2f} over {recorded.final_eval_episodes} episodes")
    return EXIT_OK


# ------------------------------------------------------------------------------ lab import

def cmd_import(args) -> int:
    from lab.zoo import import_entry, write_experiment

    raw, text = import_entry(args.file, args.env_id, args.algo)
    if args.out is None:
        print(text, end="")
        return EXIT_OK
    path = write_experiment(text, args.out)
    print(f"wrote {path} ({raw['name']}); run it with: lab run {path}")
    return EXIT_OK


def _check_attack(args, spec) -> None:
    """--attack and --epsilon come together; FGSM needs a discrete-action policy."""
    from lab.errors import BadInput

    if args.attack is None:
        if args.epsilon is not None:
            raise BadInput(f"--epsilon {args.epsilon:g}: needs --attack noise or --attack fgsm")
        return
    if args.epsilon is None:  # (its range is the parser's)
        raise BadInput(f"--epsilon: --attack {args.attack} needs a size >= 0 in observation units (missing); e.g. --epsilon 0.05")
    if args.attack == "fgsm":
        from lab.rl.envs import make_env

        env = make_env(spec)
        discrete = type(env.action_space).__name__ == "Discrete"
        env.close()
        if not discrete:
            raise BadInput(f"--attack fgsm: {spec.env.id} has continuous actions; FGSM attacks discrete-action policies (use --attack noise)")


# ------------------------------------------------------------------------------ lab export

def cmd_export(args) -> int:
    from lab.display import printable
    from lab.tensorboard import check_export, export_run

    runs = list({run.path.resolve(): run for run in (_named_run(args, "export", ref) for ref in args.runs)}.values())
    out = check_export(runs, args.tensorboard, args.runs_dir)
    for run in runs:
        done = export_run(run, out)
        print(f"{printable(run.id)} ({done.state}): {done.points:,} points in {len(done.tags)} tags -> {done.path}", flush=True)
    print(f"open them with: tensorboard --logdir {out}")
    return EXIT_OK


# ------------------------------------------------------------------------------ lab play / record

def _rl_run_for_playing(args, what: str):
    """(run, spec, seed) of an RL run whose delivered policy can be played."""
    import os

    from lab.errors import BadInput
    from lab.rl.seeds import PLAY_SEED_OFFSET
    from lab.spec import load_experiment

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off screen; no display is needed
    run = _named_run(args, what)
    if run.kind != "rl":
        raise BadInput(f"{run.id}: is an {run.kind} run, not an RL run; `lab {what}` plays RL policies")
    spec = load_experiment(run.spec_path)
    return run, spec, args.seed if args.seed is not None else spec.seed + PLAY_SEED_OFFSET


def cmd_play(args) -> int:
    import time

    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    from lab.errors import BadInput
    from lab.rl.play import half_blocks, play

    run, spec, seed = _rl_run_for_playing(args, "play")
    console = Console()
    if not console.is_terminal:
        raise BadInput("lab play draws in a terminal; to keep an episode, use `lab record RUN --out FILE.gif`")
    columns, rows = console.size.width, max(console.size.height - 2, 4)
    period = 1.0 / args.fps
    with Live(console=console, auto_refresh=False, transient=False) as live:
        for episode in range(args.episodes):
            next_at = time.monotonic()
            for frame in play(run, spec, seed + episode):
                caption = Text(f"{run.id}  episode {episode + 1}/{args.episodes}  step {frame.step}  "
                               f"return {frame.reward:.2f}" + ("  (done)" if frame.done else ""), style="bold")
                live.update(Group(half_blocks(frame.image, columns, rows), caption), refresh=True)
                next_at += period
                time.sleep(max(next_at - time.monotonic(), 0.0))
    return EXIT_OK


def cmd_record(args) -> int:
    from pathlib import Path

    from lab.display import printable
    from lab.errors import BadInput
    from lab.rl.play import gif_length, play, write_gif
    from lab.store import check_output

    out = check_output(args.out, "--out", "episode.gif", runs_dir=args.runs_dir)
    if out.suffix.lower() != ".gif":
        raise BadInput(f"--out {out}: must end in .gif")
    run, spec, seed = _rl_run_for_playing(args, "record")
    frames = list(play(run, spec, seed))
    try:
        write_gif([f.image for f in frames], out, args.fps)
    except OSError as e:  # disk full, an I/O error: the temporary file is gone, nothing is at --out
        raise BadInput(f"--out {out}: {e.strerror or e}; nothing was written (free some space, or choose another folder)") from None
    count, seconds = gif_length(out)  # what the file holds, read back
    print(f"{out}: one episode of {printable(run.id)} (seed {seed}), return {frames[-1].reward:.2f}; {len(frames)} frames of "
          f"the episode at {args.fps:g} a second: {count} GIF frames, {seconds:.2f} s (identical frames in a row are one "
          f"frame, held for as long)")
    return EXIT_OK


def cmd_dashboard(args) -> int:
    import gc

    gc.disable()  # from the first import: the dashboard collects when idle (lab.tui.idle_collect), not as it starts
    from lab.tui.app import run_app

    return run_app(args.runs_dir)


# ------------------------------------------------------------------------------ lab sweep

def cmd_sweep(args) -> int:
    from lab.errors import BadInput
    from lab.summary import RunState
    from lab.sweep import runner
    from lab.sweep.record import SweepFolder

    if (args.sweep is None) == (args.resume is None):
        raise BadInput("give a sweep to run (lab sweep NAME|FILE) or one to continue (lab sweep --resume SWEEP), not both"
                       if args.sweep else "give a sweep to run: lab sweep NAME|FILE (`lab list` shows the built-in ones)")
    shape = _sweep_shape(args)
    if args.resume and shape:
        raise BadInput("--set, --trials, --seeds: a resumed sweep keeps the shape its sweep.toml holds; remove them, or "
                       "start a new sweep from it: lab sweep RUNS/SWEEP/sweep.toml --set KEY=VALUE")
    live = _SweepView(args.json)
    kwargs = dict(workers=args.workers, address=args.address, on_change=live.changed, on_log=live.log)
    with live:
        if args.resume:
            if args.backend:
                raise BadInput("--backend: a resumed sweep keeps its backend; remove --backend")
            from lab.sweep.record import resolve_sweep

            resumed = resolve_sweep(args.resume, args.runs_dir)  # its folder, whatever its sweep.json says
            record = runner.resume(str(resumed.path), args.runs_dir, **kwargs)
        else:
            from lab.sweep.spec import load_sweep

            spec = load_sweep(args.sweep, {**shape, **({"sweep.workers": args.workers} if args.workers else {})})
            record = runner.start(spec, args.runs_dir, backend=args.backend, **kwargs)
    folder = resumed if args.resume else SweepFolder(_sweep_path(record, args.runs_dir))
    from lab.sweep.report import write_best

    best_file = write_best(folder, record)
    if args.json:
        print(json.dumps(record.result_line()), flush=True)
    else:
        _print_sweep(folder, record, best_file)
    if record.state == RunState.COMPLETED and any(t.state in (RunState.CRASHED, RunState.FAILED) for t in record.trials):
        return EXIT_FAILED  # it went on, and finished; `lab sweep --resume` reruns what crashed
    return exit_code(record.state)


def _sweep_shape(args) -> dict:
    """--set, then --trials and --seeds (shorthands for --set sweep.trials=N and sweep.seeds=[...])."""
    from lab.errors import BadInput
    from lab.sweep.spec import parse_overrides

    shape = parse_overrides(args.overrides)
    if args.trials is not None:
        shape["sweep.trials"] = args.trials  # a string: read as TOML, checked with the file ("many" is one line)
    if args.seeds is not None:
        seeds = [s.strip() for s in args.seeds.strip().removeprefix("[").removesuffix("]").split(",")]
        if not all(s.isascii() and s.isdigit() for s in seeds):
            raise BadInput(f"--seeds {args.seeds}: expected seeds separated by commas, e.g. --seeds 0,1,2 (whole "
                           "numbers >= 0)")
        shape["sweep.seeds"] = [int(s) for s in seeds]
    return shape


def _sweep_path(record, runs_dir):
    from lab.store import runs_root

    return runs_root(runs_dir) / record.id


class _SweepView:
    """What `lab sweep` shows while it runs: a live table on a terminal, else one line per event."""

    def __init__(self, quiet: bool):
        self.quiet, self.live, self.record = quiet, None, None
        self.tty = sys.stdout.isatty() and not quiet

    def __enter__(self):
        if self.tty:
            from rich.live import Live

            self.live = Live(refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def changed(self, record) -> None:
        if self.live is not None:
            from lab.sweep.report import table

            self.live.update(table(record, live=True, limit=40))

    def log(self, message: str) -> None:
        if self.quiet:
            return
        from lab.display import printable

        message = printable(message, newlines=True)  # it may quote a run's error
        if self.live is not None:
            self.live.console.print(message, markup=False, highlight=False)
        else:
            print(message, flush=True)


def _print_sweep(folder, record, best_file=None, profile=None, statistics: list[dict] | None = None,
                 shown: int = 100) -> None:
    """The sweep's table (its best `shown` trials: a sweep.json of thousands prints a screenful, not megabytes);
    `statistics`: its `seed_statistics` where the caller has them (else computed here once it has ended)."""
    from lab.display import printable, short_value
    from lab.summary import RunState
    from lab.sweep.report import importance, members, seed_statistics, seed_statistics_lines, sweep_runs, table, value_text

    # the table, then whole lines (a terminal wraps them at its own width; a pipe keeps them whole)
    _print_table(table(record, limit=shown))
    if len(record.trials) > shown:
        print(printable(f"... and {len(record.trials) - shown:,} more trials, ranked lower; every trial is in "
                        f"{folder.json_path}"))
    if members(record):  # a population: its trials are members of one run, named once
        for run_id, count in sweep_runs(record).items():
            print(printable(f"its trials' seeds are the {count} members of one population run: `lab show {run_id}` lists them"))
    steps = sum(j.steps for t in record.trials for j in t.jobs)
    print(printable(f"\nsweep {record.id} {record.live_state}: {len(record.trials)} trials, {steps:,} environment "
                    f"steps; folder {folder.path}", newlines=True))
    best = record.best()
    if best is not None:
        print(printable(f"best: trial {best.number}, {record.metric} {value_text(best)}: "
                        + ", ".join(f"{k}={short_value(v)}" for k, v in best.params.items())))
    if statistics is None and len(record.seeds) > 1 and record.live_state != RunState.RUNNING:
        statistics = seed_statistics(record)
    for line in seed_statistics_lines(record, statistics or []):
        print(printable(line))
    imp = importance(folder)
    if imp:
        print(printable("importance (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items())))
    if profile is not None:
        print(printable(f"performance profiles of the best trials over seeds: {profile}"))
    elif len(record.seeds) > 1:
        print(printable(f"their performance profiles as a picture: lab show {record.id} --png PATH"))
    if best_file is not None:
        print(printable(f"the best settings as an experiment: lab run {best_file}"))


COMMANDS = {"dashboard": cmd_dashboard, "compare": cmd_compare, "list": cmd_list, "run": cmd_run, "runs": cmd_runs, "stop": cmd_stop, "resume": cmd_resume, "show": cmd_show,
            "eval": cmd_eval, "explain": cmd_explain, "export": cmd_export, "sweep": cmd_sweep, "play": cmd_play,
            "record": cmd_record, "import": cmd_import}
