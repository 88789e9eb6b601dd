#!/usr/bin/env bash
# Make TLS material for the loalang broker (MQTT over TLS, port 8883):
# a small private CA and a server certificate signed by it.
#
#   broker/make-tls.sh [--force | --renew] OUT_DIR HOSTNAME [MORE_NAMES_OR_IPS...]
#
# Writes into OUT_DIR:
#   ca.key      the CA's private key (mode 0600); needed only to issue server certificates,
#               keep it off the broker host
#   ca.crt      the CA certificate (10 years); the controller and every device trust it
#   server.key  the broker's private key (mode 0600)
#   server.crt  the broker's certificate (825 days) for every name and IP given
#
# Keys are EC P-256. An existing CA is never replaced unless --force is given (devices trust
# it: a new CA means every device must receive the new ca.crt). --renew keeps the existing CA
# and issues a new server key and certificate, e.g. before the old one expires or to add a name.
# Needs only the openssl command line tool.

set -euo pipefail

CA_DAYS=3650
SERVER_DAYS=825
CA_SUBJECT="/O=loalang/CN=loalang broker CA"

usage() {
    cat >&2 <<'EOF'
usage: broker/make-tls.sh [--force | --renew] OUT_DIR HOSTNAME [MORE_NAMES_OR_IPS...]

  OUT_DIR     folder for ca.key, ca.crt, server.key, server.crt (created if missing)
  HOSTNAME    the broker's name as devices and the controller connect to it
              (LOALANG_DEVICE_MQTT_HOST); more host names or IP addresses may follow
  --force     replace an existing CA in OUT_DIR (every device must then be given the new ca.crt)
  --renew     keep the existing CA in OUT_DIR, issue a new server key and certificate
EOF
    exit 2
}

die() {
    echo "make-tls.sh: $*" >&2
    exit 1
}

force=0
renew=0
while [[ $# -gt 0 && $1 == -* ]]; do
    case "$1" in
        --force) force=1 ;;
        --renew) renew=1 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        *) echo "make-tls.sh: unknown option $1" >&2; usage ;;
    esac
    shift
done
[[ $# -ge 2 ]] || usage
((force + renew < 2)) || die "--force and --renew exclude each other"
command -v openssl >/dev/null || die "openssl is not installed (apt-get install openssl)"

out_dir=$1
shift
names=("$@")

# Each name becomes a subjectAltName entry: IP addresses as IP:, everything else as DNS:.
san=""
for name in "${names[@]}"; do
    if [[ $name =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || ( $name == *:* && $name =~ ^[0-9A-Fa-f:.]+$ ) ]]; then
        entry="IP:$name"
    elif [[ $name =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]]; then
        entry="DNS:$name"
    else
        die "'$name' is neither a host name nor an IP address"
    fi
    san+="${san:+,}$entry"
done
common_name=${names[0]}
(( ${#common_name} <= 64 )) || common_name="loalang broker"

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
ca_key="$out_dir/ca.key"
ca_crt="$out_dir/ca.crt"
server_key="$out_dir/server.key"
server_crt="$out_dir/server.crt"

have_ca=0
[[ -e $ca_key || -e $ca_crt ]] && have_ca=1
if ((renew)); then
    [[ -f $ca_key && -f $ca_crt ]] || die "--renew needs ca.key and ca.crt in $out_dir"
elif ((have_ca && !force)); then
    die "$out_dir already holds a CA (ca.key/ca.crt); refusing to overwrite it.
  --renew   issue a new server certificate from this CA (devices keep working)
  --force   make a new CA (every device must then be given the new ca.crt)"
fi

umask 077
work=$(mktemp -d "$out_dir/.make-tls.XXXXXX")
trap 'rm -rf "$work"' EXIT

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 0600 "$1"
}

serial() {
    echo "0x$(openssl rand -hex 16)"
}

if ((!renew)); then
    new_key "$work/ca.key"
    openssl req -x509 -new -sha256 -key "$work/ca.key" -days "$CA_DAYS" -subj "$CA_SUBJECT" \
        -set_serial "$(serial)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$work/ca.crt"
    chmod 0644 "$work/ca.crt"
    signing_key="$work/ca.key"
    signing_crt="$work/ca.crt"
else
    signing_key="$ca_key"
    signing_crt="$ca_crt"
fi

cat >"$work/server.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

new_key "$work/server.key"
openssl req -new -sha256 -key "$work/server.key" -subj "/O=loalang/CN=$common_name" -out "$work/server.csr"
openssl x509 -req -sha256 -in "$work/server.csr" -CA "$signing_crt" -CAkey "$signing_key" \
    -set_serial "$(serial)" -days "$SERVER_DAYS" -extfile "$work/server.ext" \
    -out "$work/server.crt" 2>/dev/null
chmod 0644 "$work/server.crt"
openssl verify -CAfile "$signing_crt" "$work/server.crt" >/dev/null || die "the new certificate does not verify"

# Everything was made; now move it into place.
if ((!renew)); then
    mv -f "$work/ca.key" "$ca_key"
    mv -f "$work/ca.crt" "$ca_crt"
fi
mv -f "$work/server.key" "$server_key"
mv -f "$work/server.crt" "$server_crt"

server_end=$(openssl x509 -in "$server_crt" -noout -enddate | cut -d= -f2)
ca_end=$(openssl x509 -in "$ca_crt" -noout -enddate | cut -d= -f2)
cat <<EOF
TLS material in $out_dir:
  ca.crt      CA certificate, valid until $ca_end$( ((renew)) && echo " (kept)")
  ca.key      CA private key$( ((renew)) && echo " (kept)")
  server.crt  broker certificate for ${san//,/, }, valid until $server_end
  server.key  broker private key

Copy:
  broker       ca.crt, server.crt, server.key into the broker's TLS folder (docker-compose:
               broker/tls/, mounted at /mosquitto/config/tls); server.key must be readable by
               the user the broker runs as (uid 1883 in the eclipse-mosquitto image)
  controller   ca.crt; set LOALANG_MQTT_TLS_CA_FILE (or LOALANG_DEVICE_TLS_CA_FILE) to its path;
               devices receive it at enrolment as broker-ca.pem
  ca.key       to offline storage; it is needed again only for --renew
Nothing else needs ca.key. Restart the broker to load a new server certificate.
EOF
