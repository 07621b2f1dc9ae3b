#!/usr/bin/env python3
"""Build a DER OCSP response with chosen times, which `openssl ocsp` cannot
do (its thisUpdate is always now): used for stale responses, whose
nextUpdate lies in the past. Needs the python "cryptography" package (Debian:
python3-cryptography); exits 3 without it so a test can skip.

  ocsp-response.py --cert C --issuer CA.crt --issuer-key CA.key --out R.der
      [--status good|revoked] [--this-update-hours -48]
      [--next-update-hours -24]

The response is signed by the issuer itself (no delegated responder)."""

import argparse
import datetime
import sys

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
except ImportError:
    print("python cryptography package not available", file=sys.stderr)
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--issuer-key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--status", choices=("good", "revoked"), default="good")
    ap.add_argument("--this-update-hours", type=float, default=-48)
    ap.add_argument("--next-update-hours", type=float, default=-24)
    args = ap.parse_args()
    with open(args.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(args.issuer, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    with open(args.issuer_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    this_update = now + datetime.timedelta(hours=args.this_update_hours)
    next_update = now + datetime.timedelta(hours=args.next_update_hours)
    revoked = args.status == "revoked"
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer, algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
        this_update=this_update.replace(tzinfo=None), next_update=next_update.replace(tzinfo=None),
        revocation_time=(this_update - datetime.timedelta(hours=1)).replace(tzinfo=None) if revoked else None,
        revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.NAME, issuer).certificates([issuer])
    resp = builder.sign(key, hashes.SHA256())
    with open(args.out, "wb") as f:
        f.write(resp.public_bytes(serialization.Encoding.DER))


if __name__ == "__main__":
    main()
