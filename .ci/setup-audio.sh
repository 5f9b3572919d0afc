#!/bin/sh
# Installs the Debian/Ubuntu packages behind the audio-device tests (JACK, ALSA plugins, sox, ffmpeg, opus-tools); idempotent, quiet, needs no TTY.
#
# Run as root, or as a user with passwordless sudo. Does nothing (and needs no network) when every
# package is already installed. Then .ci/start-jack.sh starts the JACK server the tests use (the
# tests also run it themselves).
set -eu

PACKAGES="jackd2 sox ffmpeg opus-tools alsa-utils libasound2 libasound2-plugins"

missing=""
for pkg in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $pkg"
  fi
done
if [ -z "$missing" ]; then
  echo "setup-audio: all packages present ($PACKAGES)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# sudo drops the environment, so DEBIAN_FRONTEND is passed explicitly.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n env DEBIAN_FRONTEND=noninteractive "$@"; fi
}

# jackd2 asks whether to grant the audio group realtime priority; the tests run jackd --no-realtime.
echo "jackd2 jackd/tweak_rt_limits boolean false" | as_root debconf-set-selections

echo "setup-audio: installing$missing"
as_root apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
as_root apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 $missing >/dev/null
echo "setup-audio: done"
