#!/bin/sh
# Installs (or checks) the Debian/Ubuntu packages that building and testing xcast need; idempotent, quiet, needs no TTY.
#
# `npm test` runs it first (pretest), `.ci/run` before `npm ci`. When every package is installed it
# does nothing and needs no network. Otherwise it installs the missing ones as root, or through
# passwordless sudo; where it can do neither it stops at once, printing the one command to run.
#
# What needs them: JACK, the ALSA plugins and alsa-utils the sound-device tests (.ci/start-jack.sh);
# sox and ffmpeg (ffprobe) the outside checks of written WAV files; opus-tools the Opus checks;
# chromium the dashboard tests; openssl the TLS tests (certificates, s_client as referee); iproute2 (ip netns,
# tc netem) the fault tests; libasound2-dev naudiodon's build at npm install (an optional
# dependency: without it the device options are unavailable); libopus-dev the mix thread's float Opus decoder
# (native/, built by npm run build; without it the decoders use @discordjs/opus); g++, make, python3 node-gyp.
#
# Usage: sh scripts/setup-system.sh [PACKAGE...]   (packages given replace the list: for its tests)
set -eu

PACKAGES="g++ make python3 jackd2 sox ffmpeg opus-tools alsa-utils libasound2 libasound2-plugins libasound2-dev libopus-dev chromium openssl iproute2 gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
[ "$#" -gt 0 ] && PACKAGES="$*"
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup-system: this is not a Debian/Ubuntu system (no dpkg-query); install the equivalents of: $PACKAGES" >&2
  exit 1
fi

missing=""
for pkg in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $pkg"
  fi
done
if [ -z "$missing" ]; then
  echo "setup-system: all packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  # sudo drops the environment, so DEBIAN_FRONTEND is passed explicitly.
  as_root() { sudo -n env DEBIAN_FRONTEND=noninteractive "$@"; }
else
  echo "setup-system: missing Debian packages:$missing" >&2
  echo "setup-system: installing them needs root (or passwordless sudo); run this, then the tests again:" >&2
  echo "  sudo sh $SELF${1+ $*}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# jackd2 asks whether to grant the audio group realtime priority; the tests run jackd --no-realtime.
echo "jackd2 jackd/tweak_rt_limits boolean false" | as_root debconf-set-selections

echo "setup-system: installing$missing"
as_root apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
as_root apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 $missing >/dev/null
echo "setup-system: done"
