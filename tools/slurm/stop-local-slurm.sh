#!/usr/bin/env bash
# Stop the daemons started by start-local-slurm.sh, by the PIDs in their pid files (reverse
# start order), waiting at most 10 s each before SIGKILL. Safe to run when nothing is running.
set -u
P=${PDPROF_SLURM_PREFIX:-/tmp/pdprof-slurm}
for f in slurmd.pid slurmctld.pid munge/munged.pid; do
  [ -s "$P/$f" ] || continue
  pid=$(cat "$P/$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "stop-local-slurm: stopped ${f%.pid} ($pid)"
  fi
  rm -f "$P/$f"
done
# the link start-local-slurm.sh made, never a real configuration
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$P/etc/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
exit 0
