#!/usr/bin/env bash
# Generates the test-only PKI in tooling/test-utils/certs/. The output is checked in; run this again
# only to change or renew it (valid certificates last 10 years). Needs the openssl CLI (1.1.1 or 3.x).
#
#   root CA (ca.pem) ── intermediate CA ── server certs (<name>.pem = leaf + intermediate, <name>.key)
#   client CA (client-ca.pem) ── client.pem        untrusted CA ── untrusted-client.pem
#
# Server certs are ECDSA P-256 except rsa-localhost (RSA 2048). expired.pem was valid in 2020 only.
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/certs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -f "$out"/*.pem "$out"/*.key
DAYS=3650

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# self-signed CA: name subject
self_ca() {
  ec_key "$out/$1.key"
  openssl req -x509 -new -key "$out/$1.key" -subj "$2" -days "$DAYS" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$out/$1.pem"
}

# sign: csr issuer-name extfile out.pem
sign() {
  openssl x509 -req -in "$1" -CA "$out/$2.pem" -CAkey "$out/$2.key" -CAcreateserial \
    -CAserial "$work/serial" -days "$DAYS" -sha256 -extfile "$3" -out "$4" 2>/dev/null
}

# server: name keytype subject-CN SANs
server() {
  local name=$1 kind=$2 cn=$3 san=$4
  "${kind}_key" "$out/$name.key"
  openssl req -new -key "$out/$name.key" -subj "/O=pingora-ts test/CN=$cn" -out "$work/$name.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
    "$san" >"$work/$name.ext"
  sign "$work/$name.csr" intermediate "$work/$name.ext" "$work/$name.leaf"
  cat "$work/$name.leaf" "$out/intermediate.pem" >"$out/$name.pem"
}

# client: name issuer subject-CN SANs
client() {
  local name=$1 issuer=$2 cn=$3 san=$4
  ec_key "$out/$name.key"
  openssl req -new -key "$out/$name.key" -subj "/O=pingora-ts test/CN=$cn" -out "$work/$name.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=%s\n' \
    "$san" >"$work/$name.ext"
  sign "$work/$name.csr" "$issuer" "$work/$name.ext" "$out/$name.pem"
}

self_ca ca "/O=pingora-ts test/CN=pingora-ts Test Root CA"

ec_key "$out/intermediate.key"
openssl req -new -key "$out/intermediate.key" -subj "/O=pingora-ts test/CN=pingora-ts Test Intermediate CA" \
  -out "$work/intermediate.csr"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
  >"$work/intermediate.ext"
sign "$work/intermediate.csr" ca "$work/intermediate.ext" "$out/intermediate.pem"

server localhost ec localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
server rsa-localhost rsa localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
server a.test ec a.test "DNS:a.test"
server b.test ec b.test "DNS:b.test"
server wild.test ec '*.wild.test' "DNS:*.wild.test"
server wrong-host ec wrong.test "DNS:wrong.test"

# expired: valid 2020-01-01 .. 2021-01-01, issued by the intermediate through `openssl ca`, which
# (unlike `x509 -req` on openssl 3.0) accepts explicit start and end dates.
ec_key "$out/expired.key"
openssl req -new -key "$out/expired.key" -subj "/O=pingora-ts test/CN=expired.test" -out "$work/expired.csr"
mkdir -p "$work/ca"
: >"$work/ca/index.txt"
echo 1000 >"$work/ca/serial"
cat >"$work/ca.cnf" <<CNF
[ ca ]
default_ca = test
[ test ]
dir = $work/ca
database = $work/ca/index.txt
serial = $work/ca/serial
new_certs_dir = $work/ca
certificate = $out/intermediate.pem
private_key = $out/intermediate.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[ any ]
organizationName = optional
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:expired.test,DNS:localhost,IP:127.0.0.1
CNF
openssl ca -batch -config "$work/ca.cnf" -in "$work/expired.csr" -startdate 20200101000000Z \
  -enddate 20210101000000Z -notext -out "$work/expired.leaf" 2>/dev/null
cat "$work/expired.leaf" "$out/intermediate.pem" >"$out/expired.pem"

self_ca client-ca "/O=pingora-ts test/CN=pingora-ts Test Client CA"
client client client-ca client.test "DNS:client.test,URI:spiffe://pingora-ts.test/client,email:client@pingora-ts.test"
self_ca untrusted-ca "/O=untrusted/CN=Untrusted Test CA"
client untrusted-client untrusted-ca untrusted.test "DNS:untrusted.test"

rm -f "$out"/*.srl
chmod 644 "$out"/*
echo "certificates written to $out"
