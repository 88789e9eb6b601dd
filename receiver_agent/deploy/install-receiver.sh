#!/usr/bin/env bash
# Install the loalang receiver agent on Raspberry Pi OS (Debian 12, arm64) and enrol it.
#   sudo ./install-receiver.sh --controller https://radio.example.vn --code K7QM-2XWD-9RTA-3F8H-PQ2Z [--wheel FILE]
# Safe to run again: it upgrades the agent and keeps the enrolment unless a new code is given.
set -euo pipefail

controller="" code="" wheel=""
while [ $# -gt 0 ]; do
    case "$1" in
        --controller) controller="$2"; shift 2 ;;
        --code) code="$2"; shift 2 ;;
        --wheel) wheel="$2"; shift 2 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (sudo)" >&2
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-venv ffmpeg libopus0 alsa-utils ca-certificates \
    modemmanager python3-gpiozero python3-lgpio || apt-get install -y -q --no-install-recommends python3 \
    python3-venv ffmpeg libopus0 alsa-utils ca-certificates modemmanager

id loalang >/dev/null 2>&1 || useradd --system --home /var/lib/loalang --shell /usr/sbin/nologin loalang
for group in audio gpio; do
    getent group "$group" >/dev/null && usermod -aG "$group" loalang
done
install -d -o loalang -g loalang -m 0750 /var/lib/loalang /etc/loalang

# Each release lives in /opt/loalang/releases/<version> with its own virtual environment (with the
# system's packages: gpiozero and lgpio come from Debian); `current` points to the one that runs and
# the launcher starts it. Over-the-air updates install further releases beside it (docs/receiver.md).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$wheel" ]; then
    python3 -m venv "$work/pip"
    "$work/pip/bin/pip" download -q --no-deps -d "$work" loalang
    wheel=$(ls "$work"/loalang-*.whl)
fi
version=$(basename "$wheel" | cut -d- -f2)
release=/opt/loalang/releases/$version
install -d -m 0755 /opt/loalang /opt/loalang/releases
if [ ! -f "$release/installed" ]; then
    rm -rf "$release"
    python3 -m venv --system-site-packages "$release/venv"
    "$release/venv/bin/pip" install -q --upgrade pip
    "$release/venv/bin/pip" install -q "$wheel[agent]"
    echo "$version" > "$release/installed"
fi
ln -sfn "releases/$version" /opt/loalang/current.new
mv -T /opt/loalang/current.new /opt/loalang/current
"$release/venv/bin/python" - <<'PY'
import shutil
from receiver_agent.updates import launcher
shutil.copy(launcher.__file__, "/opt/loalang/launch.py")
PY
chmod 0755 /opt/loalang/launch.py
chown -R loalang:loalang /opt/loalang
agent=/opt/loalang/current/venv/bin/receiver-agent

if [ -n "$code" ]; then
    if [ -z "$controller" ]; then
        echo "--code needs --controller" >&2
        exit 2
    fi
    runuser -u loalang -- "$agent" enroll --controller "$controller" \
        --code "$code" --config /etc/loalang/agent.toml --data-dir /var/lib/loalang
    # A real board drives a real card and relay.
    sed -i 's/^sink = "simulated"/sink = "alsa"/; s/^driver = "simulated"/driver = "gpio"/' /etc/loalang/agent.toml
fi

install -m 0644 "$(dirname "$0")/loalang-agent.service" /etc/systemd/system/loalang-agent.service \
    2>/dev/null || /opt/loalang/current/venv/bin/python - <<'PY'
import importlib.resources, shutil
unit = importlib.resources.files("receiver_agent") / "deploy" / "loalang-agent.service"
shutil.copy(unit, "/etc/systemd/system/loalang-agent.service")
PY
if [ -d /etc/polkit-1/rules.d ]; then  # the agent may set up the modem's signal polling
    install -m 0644 "$(dirname "$0")/loalang-modem.rules" /etc/polkit-1/rules.d/50-loalang-modem.rules
fi
for unit in loalang-reboot.path loalang-reboot.service; do
    install -m 0644 "$(dirname "$0")/$unit" "/etc/systemd/system/$unit"
done
if [ ! -d /run/systemd/system ]; then  # a system being prepared (a chroot, an image): start nothing
    systemctl enable loalang-reboot.path loalang-agent.service 2>/dev/null || true
    echo "systemd is not running here: the service starts with the system"
    exit 0
fi
systemctl daemon-reload
systemctl enable --now loalang-reboot.path
systemctl enable --now loalang-agent.service
sleep 3
runuser -u loalang -- "$agent" doctor --config /etc/loalang/agent.toml || true
