#!/bin/sh
# gen-certs.sh DIR -- throwaway TLS fixtures for the sheath test suite.
#
# Everything is ECDSA P-256, generated with certtool (gnutls-bin); the pins
# are computed with openssl. Never commit what this writes: the keys are
# throwaway and world-known the moment they exist in a repository.
#
# Files written into DIR:
#   ca.crt ca.key            CA1
#   ca2.crt ca2.key          CA2, unrelated to CA1
#   server.crt server.key    CA1, CN=server, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   server2.crt server2.key  CA1, CN=server2, SAN DNS:other.example only
#   client.crt client.key    CA1, CN=client1 OU=app, SAN DNS:client1.test
#                            URI:spiffe://sheath.test/client1
#   client2.crt client2.key  CA1, CN=client2 OU=other
#   other.crt other.key      CA2, CN=client1 (same name, wrong CA)
#   expired.crt expired.key  CA1, CN=client1, validity entirely in the past
#   revoked.crt revoked.key  CA1, CN=client1, listed in crl.pem
#   crl.pem                  CA1 CRL revoking revoked.crt
#   srv-clientauth.crt/.key  CA1, CN=server, SANs of server.crt, but EKU
#                            clientAuth only (not usable as a server)
#   cli-serverauth.crt/.key  CA1, CN=client1 OU=app, EKU serverAuth only
#                            (not usable as a client)
#   twocn.crt twocn.key      CA1, subject CN=admin,CN=client1 (two CNs)
#   noeku.crt noeku.key      CA1, CN=client1 OU=app, no EKU extension
#   pins                     "NAME BASE64" lines: base64(SHA-256(DER SPKI))
#                            for server and client
#
# Idempotent: if DIR already holds a complete set made by this version of
# the script, nothing is regenerated. Otherwise the set is built in a
# scratch directory and moved into place.
set -eu

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR" >&2
	[ $# -eq 1 ] && exit 0
	exit 2
fi

dir=$1
stamp_version=2
files="ca.crt ca.key ca2.crt ca2.key server.crt server.key server2.crt server2.key
client.crt client.key client2.crt client2.key other.crt other.key
expired.crt expired.key revoked.crt revoked.key crl.pem pins
srv-clientauth.crt srv-clientauth.key cli-serverauth.crt cli-serverauth.key
twocn.crt twocn.key noeku.crt noeku.key"

mkdir -p "$dir"

complete=yes
[ "$(cat "$dir/.gen-certs-stamp" 2>/dev/null || true)" = "$stamp_version" ] || complete=no
for f in $files; do
	[ -s "$dir/$f" ] || complete=no
done
[ "$complete" = yes ] && exit 0

work=$(mktemp -d "$dir/.gen.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
umask 077

genkey() { # NAME
	certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
		--outfile "$work/$1.key" >/dev/null 2>&1
}

# tmpl NAME LINES...: write a certtool template
tmpl() {
	name=$1
	shift
	: >"$work/$name.tmpl"
	for line in "$@"; do
		printf '%s\n' "$line" >>"$work/$name.tmpl"
	done
}

# leaf NAME CA: issue NAME.crt from NAME.tmpl, signed by CA
leaf() {
	genkey "$1"
	certtool --generate-certificate --load-privkey "$work/$1.key" \
		--load-ca-certificate "$work/$2.crt" --load-ca-privkey "$work/$2.key" \
		--template "$work/$1.tmpl" --outfile "$work/$1.crt" >/dev/null 2>&1
}

ca() { # NAME CN
	genkey "$1"
	tmpl "$1" "cn = \"$2\"" "organization = \"sheath tests\"" \
		"serial = 1" "expiration_days = 3650" "ca" "cert_signing_key" "crl_signing_key"
	certtool --generate-self-signed --load-privkey "$work/$1.key" \
		--template "$work/$1.tmpl" --outfile "$work/$1.crt" >/dev/null 2>&1
}

ca ca "sheath test CA1"
ca ca2 "sheath test CA2"

tmpl server 'cn = "server"' 'serial = 101' 'expiration_days = 3650' \
	'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"' \
	'tls_www_server' 'signing_key'
leaf server ca

tmpl server2 'cn = "server2"' 'serial = 102' 'expiration_days = 3650' \
	'dns_name = "other.example"' 'tls_www_server' 'signing_key'
leaf server2 ca

tmpl client 'cn = "client1"' 'unit = "app"' 'serial = 201' 'expiration_days = 3650' \
	'dns_name = "client1.test"' 'uri = "spiffe://sheath.test/client1"' \
	'tls_www_client' 'signing_key'
leaf client ca

tmpl client2 'cn = "client2"' 'unit = "other"' 'serial = 202' 'expiration_days = 3650' \
	'tls_www_client' 'signing_key'
leaf client2 ca

tmpl other 'cn = "client1"' 'unit = "app"' 'serial = 301' 'expiration_days = 3650' \
	'tls_www_client' 'signing_key'
leaf other ca2

tmpl expired 'cn = "client1"' 'unit = "app"' 'serial = 203' \
	'activation_date = "2001-01-01 00:00:00 UTC"' \
	'expiration_date = "2002-01-01 00:00:00 UTC"' \
	'tls_www_client' 'signing_key'
leaf expired ca

tmpl revoked 'cn = "client1"' 'unit = "app"' 'serial = 204' 'expiration_days = 3650' \
	'tls_www_client' 'signing_key'
leaf revoked ca

# Extended Key Usage the wrong way round, several CNs, no EKU at all.
tmpl srv-clientauth 'cn = "server"' 'serial = 103' 'expiration_days = 3650' \
	'dns_name = "localhost"' 'ip_address = "127.0.0.1"' 'ip_address = "::1"' \
	'tls_www_client' 'signing_key'
leaf srv-clientauth ca

tmpl cli-serverauth 'cn = "client1"' 'unit = "app"' 'serial = 205' 'expiration_days = 3650' \
	'tls_www_server' 'signing_key'
leaf cli-serverauth ca

tmpl twocn 'dn = "CN=client1,CN=admin"' 'serial = 206' 'expiration_days = 3650' \
	'tls_www_client' 'signing_key'
leaf twocn ca

tmpl noeku 'cn = "client1"' 'unit = "app"' 'serial = 207' 'expiration_days = 3650' \
	'signing_key'
leaf noeku ca

tmpl crl 'crl_next_update = 3650' 'crl_number = 1'
certtool --generate-crl --load-ca-certificate "$work/ca.crt" \
	--load-ca-privkey "$work/ca.key" --load-certificate "$work/revoked.crt" \
	--template "$work/crl.tmpl" --outfile "$work/crl.pem" >/dev/null 2>&1

pin() { # CERT
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64
}
{
	echo "server $(pin "$work/server.crt")"
	echo "client $(pin "$work/client.crt")"
	echo "client2 $(pin "$work/client2.crt")"
	echo "server2 $(pin "$work/server2.crt")"
} >"$work/pins"

rm -f "$work"/*.tmpl
chmod 600 "$work"/*.key
chmod 644 "$work"/*.crt "$work/crl.pem" "$work/pins"
for f in $files; do
	mv -f "$work/$f" "$dir/$f"
done
echo "$stamp_version" >"$dir/.gen-certs-stamp"
