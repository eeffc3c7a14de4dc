#!/bin/sh
# Runs one MPI job across two "hosts" made of network namespaces, so that what the ranks exchange
# crosses a real network stack (veth pair, Open MPI's TCP transport), not shared memory.
#
#   tools/mpi_two_hosts.sh PROGRAM [ARGS...]
#
# Creates namespaces ckA-$$ (10.77.<k>.1) and ckB-$$ (10.77.<k>.2) joined by a veth pair, writes a
# hostfile with one slot per host, and runs `mpirun -np 2` from the first namespace. Open MPI starts
# its daemon on the second "host" through an rsh agent that enters that namespace (in place of
# ssh). Both namespaces see the same file system. Needs root (CAP_NET_ADMIN) and iproute2.
# Everything is removed on exit. Exit status: the job's. Used by Tests/CoDEKitTests/DistributedTests.swift
# and `make test-mpi-hosts`.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
MPIRUN=$(command -v mpirun) || { echo "$0: mpirun not found (apt-get install openmpi-bin)" >&2; exit 2; }
k=$(( $$ % 250 + 1 ))
A=ckA-$$ B=ckB-$$ VA=ckva$$ VB=ckvb$$
IPA=10.77.$k.1 IPB=10.77.$k.2
dir=$(mktemp -d)
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
if ! ip netns add "$A" 2>"$dir/err"; then
  echo "$0: cannot create a network namespace ($(cat "$dir/err")); this needs root with CAP_NET_ADMIN" >&2; exit 2
fi
ip netns add "$B"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$A"
ip link set "$VB" netns "$B"
ip -n "$A" addr add "$IPA/24" dev "$VA"
ip -n "$B" addr add "$IPB/24" dev "$VB"
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up
cat > "$dir/agent" <<AGENT
#!/bin/sh
# rsh agent: agent HOST COMMAND... runs COMMAND in the namespace that is HOST.
host="\$1"; shift
case "\$host" in
  $IPA) ns=$A ;;
  $IPB) ns=$B ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$dir/agent"
printf '%s slots=1\n%s slots=1\n' "$IPA" "$IPB" > "$dir/hostfile"
before=$(ip -n "$A" -s link show "$VA" | awk 'NR==4 {print $1}')
set +e
ip netns exec "$A" "$MPIRUN" --allow-run-as-root --hostfile "$dir/hostfile" -np 2 \
  --mca plm_rsh_agent "$dir/agent" --mca btl self,tcp \
  --mca btl_tcp_if_include "10.77.$k.0/24" --mca oob_tcp_if_include "10.77.$k.0/24" \
  /bin/sh -c 'echo "mpi-two-hosts: rank $OMPI_COMM_WORLD_RANK in namespace $(ip netns identify $$)" >&2; exec "$@"' sh "$@"
status=$?
set -e
after=$(ip -n "$A" -s link show "$VA" | awk 'NR==4 {print $1}')
echo "mpi-two-hosts: $((after - before)) bytes received on $A's veth during the job" >&2
exit $status
