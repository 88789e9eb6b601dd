#!/usr/bin/env bash
# Prove that the receiver installs on a board's system: build a Debian 12 arm64 root file system
# (debootstrap, run under qemu-user-static), install the project's agent in it with the board's own
# install-receiver.sh (chroot), enrol it against a controller on this machine with a claim code, start
# it and show its status page answering. Not part of `make test` (several minutes); see
# docs/receiver.md, "Proof on an arm64 system".
#
#   scripts/build-arm64-board.sh --controller http://127.0.0.1:8000 --code K7QM-... [--root DIR]
#
# Run as root on an amd64 Debian 12 machine whose apt mirror and pip index answer.
set -euo pipefail
cd "$(dirname "$0")/.."

controller="" code="" root=/var/tmp/loalang-arm64 port=8089
while [ $# -gt 0 ]; do
    case "$1" in
        --controller) controller="$2"; shift 2 ;;
        --code) code="$2"; shift 2 ;;
        --root) root="$2"; shift 2 ;;
        --status-port) port="$2"; shift 2 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
if [ -z "$controller" ] || [ -z "$code" ]; then
    echo "usage: $0 --controller URL --code CLAIM-CODE [--root DIR] [--status-port PORT]" >&2
    exit 2
fi
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started )) s] $*"; }

scripts/install-system-packages.sh debootstrap qemu-user-static binfmt-support
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 || true

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
if [ ! -x "$root/usr/bin/python3" ]; then
    say "debootstrap arm64 bookworm from $mirror into $root"
    rm -rf "$root"
    debootstrap --arch=arm64 --variant=minbase --include=python3,ca-certificates,curl bookworm "$root" "$mirror"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"

cleanup() {
    [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
    for mount in dev/pts dev sys proc; do
        umount -l "$root/$mount" 2>/dev/null || true
    done
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"

# pip inside the board's system uses this machine's pip settings (index, certificates)
pip_env=()
while IFS='=' read -r name value; do
    pip_env+=("$name=$value")
done < <(env | grep '^PIP_' || true)
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    mkdir -p "$root$(dirname "$PIP_CERT")"
    cp "$PIP_CERT" "$root$PIP_CERT"
fi

say "building the project's wheel"
rm -rf "$root/tmp/loalang" && mkdir -p "$root/tmp/loalang"
.venv/bin/python -m pip wheel -q --no-deps -w "$root/tmp/loalang" .
cp receiver_agent/deploy/* "$root/tmp/loalang/"
wheel=$(cd "$root/tmp/loalang" && ls loalang-*.whl)

say "install-receiver.sh in the arm64 system (chroot, emulated)"
chroot "$root" env "${pip_env[@]}" DEBIAN_FRONTEND=noninteractive \
    bash /tmp/loalang/install-receiver.sh --controller "$controller" --code "$code" --wheel "/tmp/loalang/$wheel"
say "installed: $(chroot "$root" readlink /opt/loalang/current), $(chroot "$root" uname -m)"

# No sound card or GPIO in a chroot: the board's configuration minus its hardware, status page on
config=$root/etc/loalang/agent.toml
sed -i 's/^sink = "alsa"/sink = "simulated"/; s/^driver = "gpio"/driver = "simulated"/' "$config"
grep -q '^status_page' "$config" || sed -i "1i status_page = \"127.0.0.1:$port\"" "$config"

say "starting the agent (arm64, emulated)"
chroot "$root" runuser -u loalang -- /opt/loalang/current/venv/bin/receiver-agent run \
    --config /etc/loalang/agent.toml > "$root/var/tmp/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 300); do  # emulated, the agent takes a while to start
    if curl -fsS "http://127.0.0.1:$port/status.json" > "$root/var/tmp/status.json" 2>/dev/null \
            && grep -q '"connected": *true' "$root/var/tmp/status.json"; then
        say "status page answered, the agent connected to the broker:"
        cat "$root/var/tmp/status.json"
        echo
        exit 0
    fi
    sleep 1
done
echo "the status page did not answer with the agent connected; its log:" >&2
tail -30 "$root/var/tmp/agent.log" >&2
exit 1
