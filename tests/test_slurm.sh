#!/usr/bin/env bash
# A sweep as a Slurm job array on a one-node Slurm this test starts itself (Debian's slurm-wlm
# and munge; ../shared/cluster/NOTES.md): data/slurm/sweep_array.sbatch submitted with
# --array=0-1, each task a shard of a small sweep, then merged; the merged file must equal the
# one-process sweep's. Exits 77 (skipped) where Slurm cannot be started here: not root, the
# daemons not installed, or the node not up.
# usage: test_slurm.sh ENGINE REPO
set -uo pipefail
engine=$1
repo=$2
skip() { echo "skipped: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "not root (munge and slurmd are started as root here)"
for tool in munged slurmctld slurmd sbatch squeue; do command -v "$tool" >/dev/null || skip "no $tool (slurm-wlm, munge)"; done

work=$(mktemp -d /tmp/slurm-test-XXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for f in "$work"/slurmctld.pid "$work"/slurmd.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  [ -n "${munge_pid:-}" ] && kill "$munge_pid" 2>/dev/null
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

# munge, with a key of its own, as the munge user
mkdir -p "$work/munge/etc" "$work/munge/run" "$work/munge/log" "$work/munge/lib"
dd if=/dev/urandom of="$work/munge/etc/munge.key" bs=1024 count=1 status=none
chown -R munge: "$work/munge" && chmod 700 "$work/munge/etc" && chmod 400 "$work/munge/etc/munge.key"
socket="$work/munge/run/munge.socket"
su -s /bin/sh munge -c "/usr/sbin/munged --key-file=$work/munge/etc/munge.key --socket=$socket \
  --pid-file=$work/munge/run/munged.pid --log-file=$work/munge/log/munged.log --seed-file=$work/munge/lib/seed" \
  || skip "munged did not start"
sleep 1
munge_pid=$(cat "$work/munge/run/munged.pid" 2>/dev/null)
munge -n --socket="$socket" | unmunge --socket="$socket" >/dev/null || skip "munge does not answer"

host=$(hostname -s)
cat > "$work/slurm.conf" <<EOF
ClusterName=lowrank
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CryptoType=crypto/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
slurmctld -c || skip "slurmctld did not start"
slurmd || skip "slurmd did not start"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %t 2>/dev/null | grep -q idle || skip "the node did not come up ($(sinfo -h 2>&1 | head -1))"

# A small sweep: two shards as an array job, then the merge; beside it the one-process sweep.
cd "$work"
cat > sweep.toml <<'EOF'
experiment = "slurm_sweep"
seed = 42
epochs = 2
[data]
d = 30
n = 40
[model]
k = 50
[[runs]]
name = "ntk"
activation = "sigmoid"
gamma = 1.0
lr = 2.0
[sweep]
replicates = 3
[[sweep.axes]]
name = "act"
key = "runs.ntk.activation"
values = ["relu", "tanh"]
EOF
"$engine" sweep --config sweep.toml --quiet --out one.h5 || { echo "FAIL the one-process sweep"; exit 1; }
jobid=$(ENGINE=$engine SHARDS=shards sbatch --parsable --array=0-1 --cpus-per-task=1 --chdir="$work" \
        "$repo/data/slurm/sweep_array.sbatch" --config sweep.toml --quiet) || { echo "FAIL sbatch"; exit 1; }
for _ in $(seq 120); do
  [ -z "$(squeue -h -j "$jobid" 2>/dev/null)" ] && break
  sleep 1
done
ls shards/shard-0.h5 shards/shard-1.h5 >/dev/null 2>&1 || { echo "FAIL the array's shards: $(cat sweep-*.log 2>/dev/null)"; exit 1; }
"$engine" sweep --merge --quiet --out merged.h5 shards/shard-0.h5 shards/shard-1.h5 || { echo "FAIL merge"; exit 1; }
/usr/bin/python3 - <<'EOF' || exit 1
import h5py, numpy as np
a, b = h5py.File("one.h5", "r"), h5py.File("merged.h5", "r")
diff = [k for k in a if isinstance(a[k], h5py.Dataset) and a[k].dtype.kind in "fi"
        and not np.array_equal(a[k][()], b[k][()], equal_nan=True)]
print(("ok   " if not diff else "FAIL ") + f"a Slurm array of two shards, merged: the one-process sweep's file {diff}")
raise SystemExit(1 if diff else 0)
EOF
