#!/bin/sh
# Starts the JACK server (dummy driver, no sound card needed) and the default loop client behind the ALSA test PCMs in test/fixtures/alsa/asound.conf; safe to call twice.
#
# Environment (all optional):
#   XCAST_JACK_SERVER  JACK server name (default "xcast"); clients must run with JACK_DEFAULT_SERVER set to the same name
#   XCAST_JACK_RATE    sample rate (default 48000)
#   XCAST_JACK_PERIOD  frames per JACK period (default 480 = 10 ms at 48 kHz)
#   XCAST_JACK_LOOP    name of the loop client to start (default "xcast_loop"); "none" starts none
#   XCAST_JACK_LOGDIR  where the logs go (default ${TMPDIR:-/tmp}/xcast-jack-<server>-<uid>)
#
# A named server (not "default") keeps the tests off a real JACK server a developer may run, and
# JACK_NO_START_SERVER stops libjack from auto-starting a server with the sound-card driver.
# The loop client is jack_thru: the ALSA PCM xcast_loop_out plays into <loop>:input_N and xcast_loop_in
# records from <loop>:output_N. JACK orders the three clients in one cycle, so the loop is sample-exact;
# jackd's own -L loopback ports are not (they duplicate and skip periods on this setup).
set -eu

SERVER=${XCAST_JACK_SERVER:-xcast}
RATE=${XCAST_JACK_RATE:-48000}
PERIOD=${XCAST_JACK_PERIOD:-480}
LOOP=${XCAST_JACK_LOOP:-xcast_loop}
LOGDIR=${XCAST_JACK_LOGDIR:-${TMPDIR:-/tmp}/xcast-jack-$SERVER-$(id -u)}
export JACK_DEFAULT_SERVER="$SERVER" JACK_NO_START_SERVER=1

for tool in jackd jack_lsp jack_thru jack_disconnect flock setsid; do
  command -v "$tool" >/dev/null 2>&1 || { echo "start-jack: '$tool' not found; run scripts/setup-system.sh" >&2; exit 1; }
done

mkdir -p "$LOGDIR"
# One caller at a time: two test runs starting together must not start two servers.
exec 9>"$LOGDIR/lock"
flock -w 30 9 || { echo "start-jack: could not lock $LOGDIR/lock within 30 s" >&2; exit 1; }

server_up() { jack_lsp >/dev/null 2>&1; }

# Waits up to $2 tenths of a second for command $1 to succeed.
wait_for() {
  n=0
  while ! eval "$1"; do
    n=$((n + 1))
    [ "$n" -ge "$2" ] && return 1
    sleep 0.1
  done
}

if ! server_up; then
  # The dummy driver sleeps --wait µs per period; one period's duration keeps it at the real-time rate.
  # --sync makes each cycle wait for the whole graph, so a client scheduled late on a loaded machine
  # delays the cycle instead of leaving a stale period in the loop.
  WAIT_US=$((PERIOD * 1000000 / RATE))
  tries=0
  until server_up; do
    tries=$((tries + 1))
    if [ "$tries" -gt 3 ]; then
      echo "start-jack: jackd did not answer after 3 attempts; log: $LOGDIR/jackd.log" >&2
      tail -n 20 "$LOGDIR/jackd.log" >&2 || true
      exit 1
    fi
    setsid jackd --name "$SERVER" --no-realtime --sync -d dummy --rate "$RATE" --period "$PERIOD" --wait "$WAIT_US" \
      </dev/null >>"$LOGDIR/jackd.log" 2>&1 9>&- &
    echo $! >"$LOGDIR/jackd.pid"
    # A server that is still shutting down makes the new one exit at once ("already active"): try again.
    wait_for server_up 100 || sleep 1
  done
fi

if [ "$LOOP" != "none" ] && ! jack_lsp 2>/dev/null | grep -qx "$LOOP:input_1"; then
  setsid jack_thru "$LOOP" </dev/null >>"$LOGDIR/$LOOP.log" 2>&1 9>&- &
  echo $! >"$LOGDIR/$LOOP.pid"
  if ! wait_for "jack_lsp 2>/dev/null | grep -qx '$LOOP:output_2'" 100; then
    echo "start-jack: loop client $LOOP did not appear within 10 s; log: $LOGDIR/$LOOP.log" >&2
    exit 1
  fi
  # jack_thru connects itself to the system ports; the loop must carry only what xcast_loop_out plays.
  for ch in 1 2; do
    jack_disconnect "system:capture_$ch" "$LOOP:input_$ch" >/dev/null 2>&1 || true
    jack_disconnect "$LOOP:output_$ch" "system:playback_$ch" >/dev/null 2>&1 || true
  done
fi

echo "start-jack: JACK server '$SERVER' running (${RATE} Hz, ${PERIOD}-frame periods); loop client: $LOOP; logs: $LOGDIR"
