#!/bin/sh
# Installs the Debian packages this project needs to build, run and test (idempotent:
# only missing packages are installed; apt-get update runs only when something is missing).
set -e
PKGS="gcc make pkg-config git ca-certificates procps curl openssl \
libzmq3-dev libczmq-dev libjansson-dev libevent-dev libpq-dev libhdf5-dev hdf5-tools libtiff-dev \
libyaml-dev libxml2-dev libxml2-utils libpng-dev libjpeg62-turbo-dev libturbojpeg0-dev \
libcurl4-openssl-dev libssl-dev postgresql postgresql-client \
python3 python3-pytest python3-requests python3-tifffile python3-tables python3-numpy python3-pil wrk"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "All build, run and test dependencies are installed."
    exit 0
fi
echo "Installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "Error: run as root (or install sudo) to install:$missing" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The postgresql package starts a cluster of its own; we never use it (ours is under var/db).
$SUDO apt-get install -y -qq --no-install-recommends $missing
