#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (Debian: slurm-wlm, munge) to try the profile:
#   sudo profiles/slurm/local-cluster.sh
#   .venv/bin/snakemake --profile profiles/slurm --configfile config/test.yaml \
#       --slurm-init-seconds-before-status-checks 2
# Minimal setup as in DESIGN.md: linuxproc tracking, no task plugin, cons_tres, no accounting,
# one node named after `hostname -s`, partition `debug`.
set -euo pipefail
command -v slurmctld >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge; }
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 85 / 100 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmUser=root
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
chown -R munge:munge /run/munge /etc/munge /var/log/munge
pgrep munged >/dev/null || su -s /bin/sh munge -c munged
pgrep slurmctld >/dev/null || slurmctld
pgrep slurmd >/dev/null || slurmd
sleep 3
sinfo
