#!/usr/bin/env bash
# Makes a test CA and a broker certificate for docker-compose.sasl.yml:
#   bash docker/sasl-certs.sh [dir]     (default docker/.certs)
# ca.pem is what clients trust; broker.pem (key and certificate) is the
# broker's PEM key store. For anything but a test, use your own CA.
set -euo pipefail
dir=${1:-$(dirname "$0")/.certs}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=Riffle test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
printf "subjectAltName=DNS:localhost,DNS:riffle,IP:127.0.0.1\n" > san.ext
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -extfile san.ext -out broker.crt 2>/dev/null
cat broker.key broker.crt > broker.pem
rm -f broker.csr san.ext ca.srl
echo "wrote $(pwd)/ca.pem and $(pwd)/broker.pem"
