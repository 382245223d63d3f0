"""`amn batch` and `remember --shard` on a real one-node Slurm cluster (Debian's slurm-wlm and
munge): munged, slurmctld and slurmd started for this module under a temporary directory,
`sbatch --array=0-3 --wait` over a tree of fixture models and over one sharded model (every output
exactly once, identical to one process's), one array task killed mid-write and the array
resubmitted (only the missing work is done). Skipped, with the reason, when the daemons cannot
start here (not root, Slurm not installed)."""
import hashlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.numpy

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "cli"))
from conftest import AMN, ROOT  # noqa: E402
from test_batch import SAMPLE, make_tree  # noqa: E402

TASKS = 4


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def tree_digests(root):
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*"))
            if p.is_file() and ".amn-batch" not in p.parts and ".amn-tmp" not in p.name}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node cluster; yields the environment its clients need."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm test starts slurmd/slurmctld as root (SlurmUser=root); not root here")
    missing = [tool for tool in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch") if not shutil.which(tool)]
    if missing:
        pytest.skip("Slurm/munge not installed (scripts/setup.sh --slurm): " + " ".join(missing))
    base = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "log", "munge"):
        (base / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    key, sock = base / "munge" / "munge.key", base / "munge" / "munge.sock"
    subprocess.run(["mungekey", "-c", "-f", "-k", key], check=True, capture_output=True)
    key.chmod(0o600)
    conf = base / "slurm.conf"
    conf.write_text(f"""ClusterName=amntest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CryptoType=crypto/munge
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs={os.cpu_count()} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:{TASKS}
""")
    env = dict(os.environ, SLURM_CONF=str(conf))
    started = []

    def pid_of(name):
        path = base / name if name != "munged.pid" else base / "munge" / name
        return int(path.read_text()) if path.exists() else None

    try:
        subprocess.run(["munged", f"--key-file={key}", f"--socket={sock}", f"--pid-file={base}/munge/munged.pid",
                        f"--log-file={base}/munge/munged.log", f"--seed-file={base}/munge/seed", "-f"],
                       check=True, capture_output=True)
        started.append("munged.pid")
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", conf], env=env, check=True, capture_output=True)
            started.append(daemon + ".pid")
        deadline = time.time() + 30
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout:
            if time.time() > deadline:
                raise RuntimeError("the node did not become idle: " + (base / "log" / "slurmctld.log").read_text()[-2000:])
            time.sleep(0.5)
    except (subprocess.CalledProcessError, RuntimeError) as error:
        stop(started, pid_of)
        pytest.skip(f"the Slurm daemons cannot start here: {error}")
    yield env
    stop(started, pid_of)


def stop(started, pid_of):
    """Stops the daemons this module started (by their pid files), newest first."""
    for name in reversed(started):
        for _ in range(3):  # a pid file may appear a moment after the daemon forks
            pid = pid_of(name)
            if pid:
                break
            time.sleep(0.5)
        if pid:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


def submit(env, command, logs, wait=True):
    """sbatch --array=0-3 of `command`; returns the Popen (and its job id)."""
    proc = subprocess.Popen(["sbatch", f"--array=0-{TASKS - 1}", "--wait", f"--output={logs}/%A_%a.out",
                             f"--error={logs}/%A_%a.err", "--wrap", command],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = int(proc.stdout.readline().split()[-1])
    if wait:
        proc.wait(timeout=300)
    return proc, job


def task_lines(logs, job):
    lines = []
    for out in sorted(pathlib.Path(logs).glob(f"{job}_*.out")):
        lines += [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    return lines


def test_array_over_a_tree(slurm, tmp_path):
    make_tree(tmp_path / "in")
    subprocess.run([AMN, "batch", "remember", tmp_path / "in", "-o", tmp_path / "single", "-q"], check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc, job = submit(slurm, f"{AMN} batch remember {tmp_path}/in -o {tmp_path}/out --json", logs)
    assert proc.returncode == 0, proc.stderr.read()
    lines = task_lines(logs, job)
    inputs = [line["input"] for line in lines]
    assert len(inputs) == len(set(inputs)) == 5 and all(line["status"] == "done" for line in lines)
    assert tree_digests(tmp_path / "out") == tree_digests(tmp_path / "single")


def test_array_over_one_sharded_model(slurm, tmp_path):
    subprocess.run([AMN, "remember", SAMPLE, "-o", f"{tmp_path}/single/", "--max-shard-size", "60KB", "-q"], check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc, job = submit(slurm, f"{AMN} remember {SAMPLE} -o {tmp_path}/out/ --max-shard-size 60KB --json "
                              "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT", logs)
    assert proc.returncode == 0, proc.stderr.read()
    written = [out["path"] for line in task_lines(logs, job) for out in line["outputs"]]
    assert len(written) == len(set(written)) == len(tree_digests(tmp_path / "single")) - 1  # the index aside
    assert tree_digests(tmp_path / "out") == tree_digests(tmp_path / "single")


def test_killed_task_resubmitted_does_only_the_missing_work(slurm, tmp_path):
    make_tree(tmp_path / "in")
    big = tmp_path / "in" / "big"  # long enough to be caught mid-write
    big.mkdir()
    rng = np.random.default_rng(0)
    safetensors.numpy.save_file({f"w{idx}": rng.standard_normal((2048, 4096), dtype=np.float32) for idx in range(8)},
                                str(big / "big-f32.safetensors"))
    args = "--dtype bf16 --threads 1 --memory-budget 16MiB"
    subprocess.run([AMN, "batch", "remember", tmp_path / "in", "-o", tmp_path / "single", "-q", *args.split()], check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    owner = next(task for task in range(TASKS) if "big" in subprocess.run(
        [AMN, "batch", "remember", tmp_path / "in", "-o", tmp_path / "out", "--dry-run", "--json", "--shard",
         f"{task}/{TASKS}"], capture_output=True, text=True, check=True).stdout)
    command = f"{AMN} batch remember {tmp_path}/in -o {tmp_path}/out --json {args}"
    proc, job = submit(slurm, command, logs, wait=False)
    deadline = time.time() + 120
    while not list((tmp_path / "out").glob("big/.*amn-tmp*")):
        assert time.time() < deadline and proc.poll() is None, "the big model was never caught mid-write"
        time.sleep(0.01)
    subprocess.run(["scancel", "--signal=KILL", f"{job}_{owner}"], env=slurm, check=True)
    proc.wait(timeout=300)
    assert proc.returncode != 0  # one task was killed
    assert not (tmp_path / "out" / "big" / "big-bf16.safetensors").exists()
    first = [line["input"] for line in task_lines(logs, job)]
    proc, job = submit(slurm, command, logs)
    assert proc.returncode == 0, proc.stderr.read()
    again = task_lines(logs, job)
    done = sorted(line["input"] for line in again if line["status"] == "done")
    assert done == sorted(line["input"] for line in again if line["input"] not in first)
    assert str(big / "big-f32.safetensors") in done
    assert all(line["status"] == "skipped" for line in again if line["input"] in first)
    assert tree_digests(tmp_path / "out") == tree_digests(tmp_path / "single")
