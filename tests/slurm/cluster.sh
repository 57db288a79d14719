#!/bin/sh
# A throw-away SLURM cluster for tests, from Debian's slurm-wlm: one node,
# or several "nodes" on this one machine.
#
#   tests/slurm/cluster.sh start DIR [--nodes N]
#                                      write DIR/slurm.conf, start slurmctld
#                                      and one slurmd per node, wait until
#                                      every node is idle
#   tests/slurm/cluster.sh env DIR     print "export SLURM_CONF=DIR/slurm.conf"
#   tests/slurm/cluster.sh stop DIR    cancel the cluster's jobs, stop its
#                                      daemons (by their pid files) and any
#                                      process left from its jobs
#   tests/slurm/cluster.sh node-down DIR NODE
#                                      the node fails: SIGKILL to its slurmd
#                                      and to every process it started (job
#                                      steps, their tasks); the controller
#                                      sees it stop responding
#
# One node (the default) is this host under its own name.  With --nodes N
# (2 to 9) the nodes are n1 ... nN, each a slurmd started with -N nI and
# its own port, spool directory, pid and log file, all on this machine and
# all with this machine's host name: programs that tell nodes apart by host
# name see one host (Open MPI must then not use shared memory between
# them: OMPI_MCA_btl=self,tcp).  SLURMD_NODENAME tells a task its node.
#
# Everything (configuration, state, spool, logs, pid files) lives under DIR,
# which start creates if needed.  Every slurm command must be pointed at the
# configuration with SLURM_CONF=DIR/slurm.conf; `env` prints that line.
#
# The cluster never touches /etc/slurm: it has its own configuration (found
# through SLURM_CONF), its own ports (free ones, picked at start) and its own
# pid files, so a Debian slurmctld/slurmd service started by the package, if
# any, keeps running beside it.  Authentication is auth/none, so it must only
# ever be reachable from this machine; both daemons run as root.
#
# Settings that matter to the tests: MinJobAge=600 keeps finished jobs
# visible to scontrol/squeue; KillWait=10 bounds SIGTERM -> SIGKILL at a time
# limit; OverTimeLimit=0; sched/builtin starts a job as soon as it can.
# With several nodes SlurmdTimeout=20: a failed node is marked DOWN within
# about 20 s (one node keeps 120 s).

set -u
PATH=$PATH:/usr/sbin:/sbin

die() { echo "cluster.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start DIR [--nodes N] | stop|env|status DIR | node-down DIR NODE" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
case $2 in
    /*) dir=$2 ;;
    *) dir=$(pwd)/$2 ;;
esac
conf=$dir/slurm.conf
nodes=1
node_arg=
case $cmd:$# in
    start:2|stop:2|env:2|status:2) ;;
    start:4) [ "$3" = --nodes ] || usage; nodes=$4 ;;
    start:3)
        case $3 in --nodes=*) nodes=${3#--nodes=} ;; *) usage ;; esac ;;
    node-down:3) node_arg=$3 ;;
    *) usage ;;
esac
case $nodes in [1-9]) ;; *) die "--nodes: 1 to 9 (got '$nodes')" ;; esac

# A free TCP port (the kernel picks it); the port is released again before
# slurm binds it, which is good enough on a test machine.
free_port() {
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' &&
                return 0
        fi
    done
    # No python: a port from the pid, above the usual slurm ports.
    echo $((20000 + ($$ * 2 + $1) % 20000))
}

pid_of() {  # pid_of FILE: the pid in FILE if that process is alive
    [ -s "$1" ] || return 1
    p=$(cat "$1" 2>/dev/null) || return 1
    case $p in ''|*[!0-9]*) return 1 ;; esac
    kill -0 "$p" 2>/dev/null || return 1
    echo "$p"
}

# Processes that carry this cluster's configuration in their environment:
# the daemons' leftovers (slurmstepd) and the jobs' processes (batch shells,
# mpirun, ranks).  Matching the unique SLURM_CONF path keeps this to the
# cluster's own processes; this script's own session and its ancestors (a
# test driver that exported SLURM_CONF) are left alone.
stat_get() {  # stat_get PID N
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    echo "$s" | cut -d' ' -f"$2"
}

cluster_pids() {
    own_sid=$(stat_get $$ 4)
    keep=" $$ "
    a=$$
    while [ -n "$a" ] && [ "$a" -gt 1 ] 2>/dev/null; do
        a=$(stat_get "$a" 2) || break
        keep="$keep$a "
    done
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}
        p=${p%/environ}
        case $keep in *" $p "*) continue ;; esac
        [ "$(stat_get "$p" 4)" = "$own_sid" ] && continue
        if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
            echo "$p"
        fi
    done
}

wait_gone() {  # wait_gone SECONDS PID...: 0 when all are gone
    t=$1
    shift
    i=0
    while [ $i -lt $((t * 10)) ]; do
        alive=
        for p in "$@"; do
            kill -0 "$p" 2>/dev/null && alive="$alive $p"
        done
        [ -z "$alive" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# The node lines of slurm.conf, the partition's node list and the
# per-node daemon files, for one node (this host) or n1 ... nN.
node_conf() {  # node_conf HARDWARE
    host=$(hostname -s 2>/dev/null || hostname)
    used=
    if [ "$nodes" -eq 1 ]; then
        port=$(free_port 1)
        used=$port
        node_lines="NodeName=$host NodeAddr=127.0.0.1 $1 State=UNKNOWN"
        part_nodes=$host
        daemon_files="SlurmdPort=$port
SlurmdSpoolDir=$dir/spool
SlurmdPidFile=$dir/slurmd.pid
SlurmdLogFile=$dir/log/slurmd.log
SlurmdTimeout=120"
        return
    fi
    node_lines=
    i=1
    while [ "$i" -le "$nodes" ]; do
        port=$(free_port "$i")
        while case " $used " in *" $port "*) true ;; *) false ;; esac; do
            port=$(free_port "$i")
        done
        used="$used $port"
        node_lines="$node_lines${node_lines:+
}NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$port $1 State=UNKNOWN"
        mkdir -p "$dir/spool/n$i" || die "cannot create $dir/spool/n$i"
        i=$((i + 1))
    done
    part_nodes="n[1-$nodes]"
    daemon_files="SlurmdSpoolDir=$dir/spool/%n
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmdLogFile=$dir/log/slurmd-%n.log
SlurmdTimeout=10"
}

write_conf() {
    # slurmd -C reports this node exactly as slurmd will see it (CPUs,
    # sockets, cores, threads, memory); a RealMemory above the real one
    # would drain the node.
    hw=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n 1)
    [ -n "$hw" ] || hw="CPUs=$(nproc) RealMemory=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
    node_conf "$hw"
    ctld_port=$(free_port 0)
    while case " $used " in *" $ctld_port "*) true ;; *) false ;; esac; do
        ctld_port=$(free_port 0)
    done
    : >"$dir/plugstack.conf"
    cat >"$conf" <<EOF
# Generated by tests/slurm/cluster.sh; a test cluster of $nodes node(s).
ClusterName=dposweep-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
PlugStackConfig=$dir/plugstack.conf
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/slurmctld.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
$daemon_files
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
OverTimeLimit=0
InactiveLimit=0
Waittime=0
MessageTimeout=10
SlurmctldTimeout=120
$node_lines
PartitionName=test Nodes=$part_nodes Default=YES MaxTime=INFINITE State=UP
EOF
}

# The slurmd pid files of the cluster (one node: slurmd.pid; several:
# slurmd-nI.pid).
slurmd_pid_files() {
    for f in "$dir"/slurmd.pid "$dir"/slurmd-n*.pid; do
        [ -f "$f" ] && echo "$f"
    done
}

# Start the slurmd of node I (a node name only with several nodes).
start_slurmd() {  # start_slurmd I
    if [ "$nodes" -eq 1 ]; then
        slurmd -f "$conf" </dev/null >>"$dir/log/slurmd.out" 2>&1
    else
        slurmd -N "n$1" -f "$conf" </dev/null >>"$dir/log/slurmd-n$1.out" 2>&1
    fi
}

start() {
    command -v slurmctld >/dev/null 2>&1 || die "slurmctld not found (apt-get install slurm-wlm)"
    command -v slurmd >/dev/null 2>&1 || die "slurmd not found (apt-get install slurm-wlm)"
    if pid_of "$dir/slurmctld.pid" >/dev/null; then
        die "a cluster already runs in $dir (stop it first)"
    fi
    for f in $(slurmd_pid_files); do
        pid_of "$f" >/dev/null && die "a cluster already runs in $dir (stop it first)"
    done
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" || die "cannot create $dir"
    write_conf
    export SLURM_CONF="$conf"
    # -c: start from a clean state (no jobs from an earlier cluster).
    slurmctld -c -f "$conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 ||
        die "slurmctld failed to start; see $dir/log/slurmctld.log"
    i=1
    while [ "$i" -le "$nodes" ]; do
        start_slurmd "$i" ||
            { stop; die "slurmd of node $i failed to start; see $dir/log/"; }
        i=$((i + 1))
    done
    # Wait for every node to report idle (slurmd registers within a second
    # or two; a node left DOWN from a bad configuration never does).
    i=0
    idle=0
    while [ $i -lt 600 ]; do
        idle=$(sinfo -h -N -o %T 2>/dev/null | grep -cx idle)
        [ "$idle" -eq "$nodes" ] && break
        i=$((i + 1))
        sleep 0.1
    done
    if [ "$idle" -ne "$nodes" ]; then
        echo "cluster.sh: $idle of $nodes node(s) idle after 60 s:" >&2
        sinfo -N >&2 2>/dev/null
        tail -n 20 "$dir"/log/*.log >&2 2>/dev/null
        stop
        exit 1
    fi
    # shellcheck disable=SC2046
    echo "cluster.sh: $nodes-node cluster up in $dir (slurmctld $(cat "$dir/slurmctld.pid"), slurmd $(cat $(slurmd_pid_files) | tr '\n' ' '))" >&2
}

# This cluster's processes (SLURM_CONF in their environment, as in
# cluster_pids) whose environment also holds one of the NAME=VALUE words.
# shellcheck disable=SC2317  # called from node_down
pids_with() {  # pids_with WORD...
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}
        p=${p%/environ}
        [ "$p" = $$ ] && continue
        envs=$({ tr '\0' '\n' <"$e"; } 2>/dev/null) || continue
        printf '%s\n' "$envs" | grep -qxF "SLURM_CONF=$conf" || continue
        for w in "$@"; do
            if printf '%s\n' "$envs" | grep -qxF "$w"; then
                echo "$p"
                break
            fi
        done
    done
}

# The node fails: its slurmd, its step daemons and its tasks die at once.
# The tasks carry SLURMD_NODENAME; their step daemons (slurmstepd, whose
# environment says nothing of the node) are their parents.
# Pid lists are split into words on purpose.
# shellcheck disable=SC2086
node_down() {  # node_down NODE
    export SLURM_CONF="$conf"
    pidfile=$dir/slurmd-$1.pid
    p=$(pid_of "$pidfile") || die "no slurmd of node '$1' runs in $dir"
    kill -KILL "$p"
    left=$(pids_with "SLURMD_NODENAME=$1")
    for t in $left; do
        pp=$(stat_get "$t" 2) || continue
        [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = slurmstepd ] && left="$left $pp"
    done
    [ -n "$left" ] && kill -KILL $left 2>/dev/null
    wait_gone 10 "$p" $left || die "node $1: processes left after SIGKILL"
    rm -f "$pidfile"
    echo "cluster.sh: node $1 is down (slurmd $p and $(echo $left | wc -w) other process(es) killed)" >&2
}

# Pid lists are split into words on purpose below.
# shellcheck disable=SC2086,SC2046
stop() {
    export SLURM_CONF="$conf"
    ctld=$(pid_of "$dir/slurmctld.pid") || ctld=
    slurmd_pids=
    for f in $(slurmd_pid_files); do
        p=$(pid_of "$f") && slurmd_pids="$slurmd_pids $p"
    done
    # Cancel the jobs first so slurmd ends them and cleans up its steps.
    if [ -n "$ctld" ]; then
        scancel --quiet --user="$(id -un)" 2>/dev/null
        i=0
        while [ $i -lt 150 ] && [ -n "$(squeue -h -t RUNNING,COMPLETING,CONFIGURING -o %i 2>/dev/null)" ]; do
            sleep 0.1
            i=$((i + 1))
        done
    fi
    for p in $slurmd_pids $ctld; do
        kill -TERM "$p" 2>/dev/null
    done
    if [ -n "$slurmd_pids$ctld" ] && ! wait_gone 20 $slurmd_pids $ctld; then
        for p in $slurmd_pids $ctld; do
            kill -KILL "$p" 2>/dev/null
        done
        wait_gone 5 $slurmd_pids $ctld
    fi
    # Whatever is left of the cluster's jobs and steps.
    left=$(cluster_pids)
    if [ -n "$left" ]; then
        kill -TERM $left 2>/dev/null
        wait_gone 5 $left || kill -KILL $(cluster_pids) 2>/dev/null
    fi
    rm -f "$dir/slurmctld.pid" $(slurmd_pid_files)
    return 0
}

case $cmd in
    start) start ;;
    stop)
        [ -f "$conf" ] || die "no cluster in $dir"
        stop
        ;;
    env) echo "export SLURM_CONF='$conf'" ;;
    node-down)
        [ -f "$conf" ] || die "no cluster in $dir"
        node_down "$node_arg"
        ;;
    status)
        export SLURM_CONF="$conf"
        pid_of "$dir/slurmctld.pid" >/dev/null || { echo "slurmctld not running"; exit 1; }
        for f in $(slurmd_pid_files); do
            pid_of "$f" >/dev/null || { echo "slurmd ($f) not running"; exit 1; }
        done
        sinfo -N
        ;;
    *) usage ;;
esac
