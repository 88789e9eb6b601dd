#!/usr/bin/env bash
# Install the Debian packages loalang needs, only those that are missing.
# Usage: scripts/install-system-packages.sh [extra packages...]
set -euo pipefail

packages=(mosquitto mosquitto-clients nats-server redis-server ffmpeg libopus0 espeak-ng postgresql icecast2 caddy chromium python3-venv
          systemd util-linux  # the board's service in a test's own systemd
          alsa-utils libasound2-plugins pulseaudio pulseaudio-utils  # a sound card without hardware
          "$@")
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# The project runs its own brokers and Redis; the distribution's services are not needed.
for service in mosquitto nats-server redis-server postgresql caddy; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
done
