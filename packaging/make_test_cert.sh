#!/usr/bin/env bash
# A throwaway self-signed code-signing certificate for the tests (never for a release):
#   bash packaging/make_test_cert.sh DIR   -> DIR/cert.pem, DIR/key.pem, DIR/cert.pfx, DIR/password.txt
# Valid for 2 days. Needs openssl.
set -euo pipefail
DIR="${1:?usage: make_test_cert.sh DIR}"
mkdir -p "$DIR"
printf 'throwaway-%s' "$$" > "$DIR/password.txt"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$DIR/key.pem" -out "$DIR/cert.pem" \
  -subj "/CN=FHIR Write-back TEST signing (not trusted)" \
  -addext "extendedKeyUsage=codeSigning" -addext "keyUsage=digitalSignature" 2>/dev/null
openssl pkcs12 -export -out "$DIR/cert.pfx" -inkey "$DIR/key.pem" -in "$DIR/cert.pem" \
  -passout "file:$DIR/password.txt"
