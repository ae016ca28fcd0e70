#!/usr/bin/env bash
# A single-node Slurm cluster on this machine for tests/e2e/oci.rs (as root): munge, slurmctld and
# slurmd from Debian 12's slurm-wlm (22.05), and an oci.conf that names burrow as the OCI runtime
# through a fixed link, /var/lib/burrow-e2e/burrow-runc, which the tests point at the binary they
# test. Safe to run again: it starts only what is not running.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup/slurm.sh: run me as root" >&2
    exit 1
fi
node=$(hostname -s)
cpus=$(nproc)
mkdir -p /etc/slurm /var/lib/slurm/slurmd /var/lib/slurm/slurmctld /var/log/slurm /var/lib/burrow-e2e
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=burrow-e2e
SlurmctldHost=$node
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
# Slurm 22.05's patterns: %b bundle, %n node, %u user name, %j job, %s step, %t task (no %U).
# The state root is per user (under /tmp: no XDG_RUNTIME_DIR in a batch step).
runc=/var/lib/burrow-e2e/burrow-runc
root=/tmp/burrow-runc-slurm-%u
id=%n.%u.%j.%s.%t
cat > /etc/slurm/oci.conf <<CONF
RunTimeQuery="$runc --root=$root state $id"
RunTimeKill="$runc --root=$root kill -a $id"
RunTimeDelete="$runc --root=$root delete --force $id"
RunTimeRun="$runc --root=$root run $id -b %b"
CONF
if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    [ -s /etc/munge/munge.key ] || runuser -u munge -- /usr/sbin/mungekey --create
    runuser -u munge -- /usr/sbin/munged
fi
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 50); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && exit 0
    sleep 0.2
done
echo "tests/setup/slurm.sh: the node did not come up (see /var/log/slurm/)" >&2
exit 1
