"""`kohyawiz export DIR --slurm | --skypilot` and `kohyawiz runs watch`: a plan beyond this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.files import write_atomic, write_together
from kohyawiz.run.train import PlanFolder


def run_remote_export(args: argparse.Namespace) -> int:
    folder = PlanFolder.load(Path(args.dir))
    folder.check_trust()  # a shared plan folder sends nothing elsewhere from another machine either
    if args.slurm is not None:
        return _slurm(folder, args)
    return _skypilot(folder, args)


def _slurm(folder: PlanFolder, args: argparse.Namespace) -> int:
    from kohyawiz.run.records.record import runs_home
    from kohyawiz.run.sdscripts.locate import find_sd_scripts
    from kohyawiz.run.slurm import SlurmOptions, cluster, node_local_paths, sbatch_script
    from kohyawiz.run.train import preflight

    sd = find_sd_scripts(args.sd_scripts, args.python)
    gpus_per_node, found = args.gpus_per_node, cluster()
    if found is None:
        print("note: no Slurm answered here (sinfo), so the script asks for the plan's GPUs on each node; "
              "--gpus-per-node 0 asks for none")  # fmt: skip
    elif gpus_per_node is None and not found.gpus:
        gpus_per_node = 0
        print("note: this cluster's nodes list no GPUs (sinfo's GRES), so the script asks for none; "
              "pass --gpus-per-node N to ask anyway")  # fmt: skip
    options = SlurmOptions(args.partition, gpus_per_node, args.nodes, args.time, found.cpus if found else None)
    text = sbatch_script(folder, sd, options)
    checked = preflight(folder, sd, here=False)  # the nodes run this checkout in this environment: ask it now
    for warning in checked.warnings:
        print(f"warning: {warning}")
    if checked.errors:
        more = f" (and {len(checked.errors) - 1} more)" if len(checked.errors) > 1 else ""
        raise UserError(f"preflight: {checked.errors[0]}{more}")
    out = Path(args.slurm).expanduser() if args.slurm else folder.folder / "train.sbatch"
    runs_home().mkdir(parents=True, exist_ok=True)  # sbatch writes its own output there and never makes folders
    write_atomic(out, text)
    out.chmod(out.stat().st_mode | 0o111)
    local = node_local_paths(folder, runs_home().expanduser().resolve())
    if local and folder.machines > 1:  # all of them at once, so one export shows every one to move
        print(f"warning: on node-local folders the other nodes will not see (use shared ones): {', '.join(local)}")
    print(f"Wrote {out}: sd-scripts {sd.root} ({sd.version.id}) with {sd.python}")
    print(f"  submit: sbatch {out}")
    print("  follow: kohyawiz runs watch slurm-JOBID   (the job id sbatch prints)")
    return 0


def _skypilot(folder: PlanFolder, args: argparse.Namespace) -> int:
    from kohyawiz.run.skypilot import SkyOptions, task, task_yaml

    out = Path(args.skypilot).expanduser().resolve() if args.skypilot else folder.folder / "skypilot"
    plan_copy = out / "plan"
    options = SkyOptions(args.accelerator, args.bucket, list(args.secret), args.torch, args.cloud)
    data, files = task(folder, options, plan_copy)
    own = {p.name: p.read_text(encoding="utf-8") for p in _own_files(folder)}
    try:
        plan_copy.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the export folder: {exc.strerror or exc}", where=str(out)) from exc
    write_together(plan_copy, {**own, **files}, "the plan's copy")
    write_atomic(out / "task.yaml", task_yaml(data, folder.folder))
    resources = data["resources"]["accelerators"]
    print(f"Wrote {out / 'task.yaml'}: {data['num_nodes']} node(s) of {resources}, the plan re-pointed in {plan_copy}")
    uploads = [v for k, v in data["file_mounts"].items() if isinstance(v, str) and k != "/kohyawiz/plan"]
    print(f"  uploads: {len(uploads)} model/dataset path(s) from this machine" + (f" ({uploads[0]}, ...)" if uploads else ""))
    secrets = "".join(f" --secret {s}" for s in data.get("secrets", {}))
    print(f"  launch: cd {out} && sky launch -c kohyawiz task.yaml{secrets}")
    print("  follow: sky logs kohyawiz | kohyawiz runs watch -")
    if not args.bucket:
        print("  outputs stay on the head node in /kohyawiz/output: `rsync -Pavz kohyawiz:/kohyawiz/output ./` "
              "(or export with --bucket s3://... to mount a bucket there)")  # fmt: skip
    return 0


def _own_files(folder: PlanFolder) -> list[Path]:
    from kohyawiz.emit import OWN_FILES

    return [folder.folder / name for name in OWN_FILES if (folder.folder / name).is_file()]


def run_watch(args: argparse.Namespace) -> int:
    from kohyawiz.cli.runs_cmd import show_lines
    from kohyawiz.cli.train_cmd import ConsoleView
    from kohyawiz.run.records.history import read_history
    from kohyawiz.run.watch import find_record, follow, follow_stream

    ids: list[str] = list(args.ids or [])
    if len(ids) != 1:
        raise UserError("`kohyawiz runs watch` needs one run: an id such as slurm-1234, a record folder, or -")
    with ConsoleView(args.plain) as view:
        if ids[0] == "-":
            outcome, record = follow_stream(sys.stdin.buffer, "watched", view.show)
            folder = record.folder
        else:
            folder = find_record(ids[0], args.wait, on_wait=lambda: print(
                f"Waiting up to {args.wait:g} s for {ids[0]} to start (its record appears then)", file=sys.stderr))
            print(f"Following {folder / 'train.log'}", file=sys.stderr)
            outcome = follow(folder, view.show, timeout_s=args.timeout)
    print("\n".join(show_lines(read_history(folder), None, None)))
    job = folder.name.rpartition("-slurm-")[2] if "-slurm-" in folder.name else None
    if job and outcome.status != "completed":  # the batch script's own errors (srun, cp) are kept by Slurm
        print(f"  Slurm's own output: {folder.parent / f'slurm-{job}.out'}")
    return 0 if outcome.status == "completed" else 1
