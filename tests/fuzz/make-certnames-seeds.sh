#!/bin/sh
# make-certnames-seeds.sh OUTDIR -- regenerate the seeds of corpus/certnames:
# small DER certificates made with certtool (GnuTLS) whose subjects and
# alternative names exercise every list certnames_collect fills (several
# CNs and OUs, DNS, URI, IP, e-mail SANs, a long name, an empty subject).
# The throw-away key is deleted; only certificates are written.
set -eu
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
certtool --generate-privkey --key-type ecdsa --curve secp256r1 \
    --outfile "$tmp/key.pem" >/dev/null 2>&1

# seed NAME: a self-signed certificate from the template on stdin.
seed() {
	cat >"$tmp/$1.tmpl"
	certtool --generate-self-signed --load-privkey "$tmp/key.pem" \
	    --template "$tmp/$1.tmpl" --outder --outfile "$out/$1.der" \
	    >/dev/null 2>&1
}

seed client-cn <<'T'
cn = "client1"
serial = 1
expiration_days = 3650
tls_www_client
T
seed many-names <<'T'
cn = "alice"
unit = "ops"
unit = "db admins"
organization = "sheath fuzz"
dns_name = "db.example.net"
dns_name = "*.example.org"
uri = "spiffe://example.org/ns/prod/sa/db"
uri = "https://example.net/id"
ip_address = "192.0.2.7"
email = "alice@example.net"
serial = 2
expiration_days = 3650
T
seed multi-cn <<'T'
dn = "CN=first,CN=second,OU=a,OU=b,OU=c,O=multi"
serial = 3
expiration_days = 3650
T
seed long-dns <<'T'
cn = "long"
dns_name = "a-very-long-label-to-fill-the-pool-a-very-long-label-to-fill.a-very-long-label-to-fill-the-pool-a-very-long-label-to-fill.a-very-long-label-to-fill-the-pool-a-very-long-label-to-fill.a-very-long-label-to-fill-the-pool-a-very-long-label.example"
serial = 4
expiration_days = 3650
T
seed no-subject <<'T'
dn = "O=nobody"
dns_name = "only-a-san.example"
serial = 5
expiration_days = 3650
T
