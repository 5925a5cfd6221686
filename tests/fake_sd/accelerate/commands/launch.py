"""A stand-in for `python -m accelerate.commands.launch`: skips its options, runs the script in a
child process (as accelerate does) and returns the child's exit code."""

import signal
import subprocess
import sys

args = sys.argv[1:]
valued = {
    "--num_cpu_threads_per_process",
    "--num_processes",
    "--num_machines",
    "--mixed_precision",
    "--gpu_ids",
    "--main_process_port",
    "--main_process_ip",
    "--machine_rank",
}
while args and args[0].startswith("--"):
    flag = args.pop(0)
    if flag in valued:
        args.pop(0)
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child gets the group's SIGINT itself
child = subprocess.Popen([sys.executable, *args])
raise SystemExit(child.wait())
