# Shared helpers for the proxy recording scenarios; sourced, not run.
#
# Every scenario records on lo with a filter on 127.0.2.0/24, runs its client
# requests one after the other and writes a steps file into $WORK: one JSON
# line per client request with its wall-clock window. truth.py then turns
# capture and steps into the truth file.

set -eu

REC_ADDRS=${REC_ADDRS:-127.0.2.0/24}
WORK=${WORK:-$(mktemp -d)}
PIDS=""

# bg CMD...: start a program in the background, logging to $WORK, and
# remember its process id for cleanup.
bg() {
	local log="$WORK/$(basename "$1").$$.$RANDOM.log"
	"$@" >"$log" 2>&1 &
	PIDS="$PIDS $!"
}

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=""
}
trap cleanup EXIT

# ensure_free ADDR PORT: fail if something already listens on ADDR:PORT
# (aiocoap binds with SO_REUSEPORT: a stale proxy would share the port and
# answer some of the requests).
ensure_free() {
	if ss -Hlun "src $1:$2 or src [::ffff:$1]:$2" | grep -q .; then
		echo "$1:$2 is already in use" >&2
		exit 1
	fi
}

# wait_udp ADDR PORT: wait until something listens on ADDR:PORT.
wait_udp() {
	for _ in $(seq 100); do
		if ss -Hlun "src $1:$2 or src [::ffff:$1]:$2" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1:$2" >&2
	return 1
}

# capture_start PCAP: record loopback traffic of our addresses.
capture_start() {
	PCAP=$1
	STEPS="$WORK/$(basename "${PCAP%.pcap}").steps.jsonl"
	: >"$STEPS"
	STEP=0
	tcpdump -i lo -s 0 -U -w "$PCAP" "udp and net $REC_ADDRS" 2>"$WORK/tcpdump.log" &
	TCPDUMP=$!
	for _ in $(seq 50); do
		if grep -q listening "$WORK/tcpdump.log"; then break; fi
		sleep 0.1
	done
}

capture_stop() {
	sleep 1
	kill -INT "$TCPDUMP"
	wait "$TCPDUMP" || true
}

now() { date +%s.%N; }

# step CLIENT PROXY SERVER METHOD URI -- CMD...: run one client request and
# note its window. CLIENT is the client's address (its port is found in the
# capture), PROXY and SERVER are ip:port.
step() {
	local client=$1 proxy=$2 server=$3 method=$4 uri=$5
	shift 6
	STEP=$((STEP + 1))
	local start end
	start=$(now)
	"$@" >"$WORK/step$STEP.out" 2>&1 || echo "step $STEP exited with $?" >&2
	sleep 0.3
	end=$(now)
	printf '{"n":%d,"client":"%s","proxy":"%s","server":"%s","method":"%s","uri":"%s","start":%s,"end":%s}\n' \
		"$STEP" "$client" "$proxy" "$server" "$method" "$uri" "$start" "$end" >>"$STEPS"
}
