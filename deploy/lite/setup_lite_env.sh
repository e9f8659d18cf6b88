#!/usr/bin/env bash
# Build (once) the Paddle-Lite tool environment: a Debian bullseye chroot with
# Python 3.9 and a venv at /opt/lite holding paddlelite==2.13rc0 (paddle_lite_opt
# and the x86 runtime).  PyPI has paddlelite wheels only for Python <= 3.10, and
# the project runs on 3.11, hence the chroot.
#
#   deploy/lite/setup_lite_env.sh            # builds ./lite-env (repo root)
#   LITE_ENV=/some/dir deploy/lite/setup_lite_env.sh
#
# Idempotent: a finished environment is marked by $LITE_ENV/.lite-ready and is
# reused; an interrupted debootstrap is redone from scratch.  Needs root
# (debootstrap, chroot) and network access to a Debian mirror and PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LITE_ENV="${LITE_ENV:-$ROOT/lite-env}"
SUITE="${LITE_SUITE:-bullseye}"
PADDLELITE="${PADDLELITE_VERSION:-2.13rc0}"
READY="$LITE_ENV/.lite-ready"

die() { echo "setup_lite_env: $*" >&2; exit 1; }

if [ -f "$READY" ] && [ -x "$LITE_ENV/opt/lite/bin/paddle_lite_opt" ]; then
    echo "lite env ready: $LITE_ENV"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot); run it as root or via sudo"

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it"
    echo "installing debootstrap ..."
    apt-get install -y -q debootstrap >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; } \
        || die "cannot install debootstrap (apt-get install debootstrap failed: no network?)"
fi

mirror() {
    # The host's own Debian mirror (deb822 or one-line format); fall back to deb.debian.org.
    local m=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m="$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)"
    fi
    echo "${LITE_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

if [ ! -x "$LITE_ENV/usr/bin/python3" ] || [ ! -f "$LITE_ENV/.debootstrap-done" ]; then
    PARTIAL="$LITE_ENV.partial"
    rm -rf "$PARTIAL"
    echo "debootstrap $SUITE -> $LITE_ENV (about a minute) ..."
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv \
        "$SUITE" "$PARTIAL" "$(mirror)" >"$PARTIAL.log" 2>&1 \
        || { tail -n 20 "$PARTIAL.log" >&2; die "debootstrap failed (log: $PARTIAL.log)"; }
    rm -rf "$LITE_ENV"
    mv "$PARTIAL" "$LITE_ENV"
    mv "$PARTIAL.log" "$LITE_ENV/.debootstrap.log"
    touch "$LITE_ENV/.debootstrap-done"
fi

# The network may pass through a TLS proxy with its own CA: give the chroot the host's bundle.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$LITE_ENV/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$LITE_ENV/etc/ssl/certs/ca-certificates.crt"
fi
[ -f /etc/resolv.conf ] && cp -L /etc/resolv.conf "$LITE_ENV/etc/resolv.conf" || true

echo "installing paddlelite==$PADDLELITE in the chroot ..."
chroot "$LITE_ENV" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180 /bin/sh -ec "
        [ -x /opt/lite/bin/python ] || python3 -m venv /opt/lite
        /opt/lite/bin/pip install -q 'paddlelite==$PADDLELITE' 'numpy<2'
        /opt/lite/bin/python -c 'import paddlelite.lite'
    " || die "pip install paddlelite==$PADDLELITE inside the chroot failed"

[ -x "$LITE_ENV/opt/lite/bin/paddle_lite_opt" ] || die "paddle_lite_opt missing after install"
date -u +%FT%TZ >"$READY"
echo "lite env ready: $LITE_ENV"
