#!/usr/bin/env bash
# A real single-node SLURM for tests and CI: munged + slurmctld + slurmd on this machine, with
# NGPU fake GPUs and two partitions on the one node: `gpu` (default) and `cpu`.
# Debian 12 (SLURM 22.05), run as root, no systemd needed.
#
#   tools/slurm/start-local-slurm.sh      # prints: export SLURM_CONF=...  (clients need it)
#   tools/slurm/stop-local-slurm.sh
#
# Idempotent: a running cluster of the same prefix is reused. Quiet: one line on success; the
# daemons' logs are in $PREFIX/log. Every wait is bounded; a failure prints the log tails.
# Outside $PREFIX, only apt-get (packages), munge's key and one link are written: the
# configuration lives in $PREFIX/etc, and /etc/slurm/slurm.conf links to it (jobs' nested
# `srun` calls do not inherit SLURM_CONF: snakemake's jobstep executor drops SLURM_* variables).
# A real /etc/slurm/slurm.conf (not such a link) is never replaced: the script stops instead.
#
# Environment: PDPROF_SLURM_PREFIX (default /tmp/pdprof-slurm), NGPU (default 2),
# PDPROF_SLURM_INSTALL=0 refuses to apt-get missing packages (exit 3 instead).
# Traps this avoids: file-less GPU GRES are dropped by SLURM 22.05 (fake GPUs are symlinks to
# /dev/null); without DefMemPerCPU every job takes the node's whole memory; without slurmdbd,
# sacct cannot report jobs, so Snakemake must use `squeue` status (MinJobAge=300 keeps finished
# jobs visible to squeue long enough); a node left drained by an earlier run is resumed.
set -euo pipefail

P=${PDPROF_SLURM_PREFIX:-/tmp/pdprof-slurm}
NGPU=${NGPU:-2}
HOST=$(hostname -s)
CONF=$P/etc/slurm.conf
export SLURM_CONF=$CONF
MSOCK=$P/munge/munge.socket.2

say() { echo "start-local-slurm: $*" >&2; }
fail() {
  say "$*"
  for f in "$P"/log/*.log "$P"/munge/munged.log; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
idle() { timeout 10 sinfo -h -N -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

if alive "$P/slurmctld.pid" && alive "$P/slurmd.pid" && alive "$P/munge/munged.pid" && idle; then
  say "already running ($P)"
  echo "export SLURM_CONF=$CONF"
  exit 0
fi
# Half-started or stale: stop what is left, start afresh.
bash "$(dirname "$0")/stop-local-slurm.sh" >/dev/null 2>&1 || true
rm -rf "$P/state" "$P/spool" "$P/etc" "$P/fakedev" "$P/log"
mkdir -p "$P"/{state,spool,log,munge,fakedev,etc}

# 1. packages
missing=()
for cmd in slurmctld slurmd sbatch munged; do
  command -v "$cmd" >/dev/null || PATH=$PATH:/usr/sbin command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${PDPROF_SLURM_INSTALL:-1}" = 0 ]; then
    say "missing ${missing[*]} and PDPROF_SLURM_INSTALL=0"
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "installing slurmctld slurmd slurm-client munge (log: $P/log/apt.log)"
  timeout -k 10 300 apt-get update -qq >"$P/log/apt.log" 2>&1 || fail "apt-get update failed"
  timeout -k 10 600 apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >>"$P/log/apt.log" 2>&1 || fail "apt-get install failed"
fi
export PATH=$PATH:/usr/sbin


# 2. munge (Debian's postinst creates /etc/munge/munge.key; create it where it did not)
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  mungekey -c -k /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
fi
chown munge:munge "$P/munge"
chmod 0755 "$P/munge"
runuser -u munge -- /usr/sbin/munged --socket="$MSOCK" --pid-file="$P/munge/munged.pid" \
  --log-file="$P/munge/munged.log" --seed-file="$P/munge/munged.seed" \
  || fail "munged did not start"
for _ in $(seq 40); do
  timeout 5 munge -S "$MSOCK" -n 2>/dev/null | timeout 5 unmunge -S "$MSOCK" >/dev/null 2>&1 && break
  sleep 0.25
done
timeout 5 munge -S "$MSOCK" -n | timeout 5 unmunge -S "$MSOCK" >/dev/null || fail "munge does not answer"

# 3. fake GPUs: device files SLURM accepts (char devices), so --gpus jobs get CUDA_VISIBLE_DEVICES
for i in $(seq 0 $((NGPU - 1))); do ln -sf /dev/null "$P/fakedev/nvidia$i"; done
echo "NodeName=$HOST Name=gpu File=$P/fakedev/nvidia[0-$((NGPU - 1))]" >"$P/etc/gres.conf"

# 4. slurm.conf (gres.conf is read from the same folder)
NCPU=$(nproc)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEM=$((MEM * 9 / 10))
cat >"$CONF" <<EOF
ClusterName=pdprof
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
StateSaveLocation=$P/state
SlurmdSpoolDir=$P/spool
SlurmctldPidFile=$P/slurmctld.pid
SlurmdPidFile=$P/slurmd.pid
SlurmctldLogFile=$P/log/slurmctld.log
SlurmdLogFile=$P/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MpiDefault=none
ReturnToService=2
MinJobAge=300
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$P/log/jobcomp.txt
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM Gres=gpu:$NGPU State=UNKNOWN
PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF

# Jobs' nested srun calls read the default path.
SYS_CONF=/etc/slurm/slurm.conf
if [ -e "$SYS_CONF" ] && [ "$(readlink "$SYS_CONF")" != "$CONF" ]; then
  fail "$SYS_CONF exists and is not ours: this machine has a SLURM of its own"
fi
mkdir -p /etc/slurm
ln -sfn "$CONF" "$SYS_CONF"

# 5. daemons (both daemonize and write their pid files into $P)
slurmctld -f "$CONF" -i || fail "slurmctld did not start"
slurmd -f "$CONF" -N "$HOST" || fail "slurmd did not start"
for _ in $(seq 60); do
  idle && break
  sleep 0.5
done
if ! idle; then
  timeout 10 scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sleep 2
  idle || fail "node $HOST is not idle: $(timeout 10 sinfo -h -N -o '%t %E' 2>&1)"
fi
out=$(timeout -k 5 60 srun -p gpu --gpus=1 -t 1 bash -c 'echo "$CUDA_VISIBLE_DEVICES"' 2>&1) \
  || fail "test job failed: $out"
say "up: node $HOST, $NCPU CPUs, $NGPU fake GPUs (a --gpus=1 job saw CUDA_VISIBLE_DEVICES=$out), partitions gpu cpu; logs in $P/log"
echo "export SLURM_CONF=$CONF"
