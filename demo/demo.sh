#!/bin/sh
# demo.sh: show sheath's main job on loopback, with throwaway certificates.
#
#   legacy client --plaintext--> sheath client --mutual TLS--> sheath server
#                 --plaintext--> legacy service (an upper-casing echo)
#
# Run by `make demo`. Needs python3 (certtool and openssl are not needed:
# sheath --make-pair makes the certificates). Cleans up.
set -eu

: "${SHEATH:=$(pwd)/src/sheath}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/sheath-demo.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_log FILE TEXT: wait (10 s at most) until FILE contains TEXT.
wait_log() {
	python3 - "$1" "$2" <<'PY'
import sys, time
end = time.time() + 10
while time.time() < end:
    try:
        if sys.argv[2] in open(sys.argv[1]).read():
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
sys.exit("%s: no \"%s\" after 10 s" % (sys.argv[1], sys.argv[2]))
PY
}

backend=$(port) srv=$(port) cli=$(port)

echo "== 1. a throwaway CA, a server and a client certificate, both configs"
echo "   sheath --make-pair $dir/pair --name legacy --backend 127.0.0.1:$backend ..."
"$SHEATH" --make-pair "$dir/pair" --name legacy --etc "$dir/etc" \
	--server-accept "127.0.0.1:$srv" --backend "127.0.0.1:$backend" \
	--client-accept "127.0.0.1:$cli" | sed 's/^/   | /'
# What the output says to do on each host; here both are this machine.
mkdir -p "$dir/etc"
cp -r "$dir/pair/server/." "$dir/pair/client1/." "$dir/etc/"
"$SHEATH" -t -c "$dir/etc/conf.d/legacy-server.conf" | sed 's/^/   server: /'
"$SHEATH" -t -c "$dir/etc/conf.d/legacy-client1.conf" | sed 's/^/   client: /'

echo "== 2. a legacy service on 127.0.0.1:$backend (answers in upper case)"
python3 - "$backend" >"$dir/backend.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); s.settimeout(60)
while True:
    c, _ = s.accept()
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.sendall(data.upper()); c.close()
PY
pids="$pids $!"

echo "== 3. sheath server on 127.0.0.1:$srv, sheath client on 127.0.0.1:$cli"
"$SHEATH" -f -l info -c "$dir/etc/conf.d/legacy-server.conf" 2>"$dir/server.log" &
pids="$pids $!"
"$SHEATH" -f -l info -c "$dir/etc/conf.d/legacy-client1.conf" 2>"$dir/client.log" &
pids="$pids $!"
wait_log "$dir/server.log" "listening on"
wait_log "$dir/client.log" "listening on"

echo "== 4. the legacy client speaks plaintext to the local sheath client"
python3 - "$cli" <<'PY'
import socket, sys
msg = b"hello from a legacy client that cannot speak TLS"
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
c.sendall(msg); c.shutdown(socket.SHUT_WR)
reply = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    reply += chunk
print("   sent:     %s" % msg.decode())
print("   received: %s" % reply.decode())
sys.exit(0 if reply == msg.upper() else "the reply is wrong")
PY

# Both sides log one line per connection when it ends.
wait_log "$dir/server.log" "end="
wait_log "$dir/client.log" "end="
echo "== 5. what each side logged (TLS parameters and the verified peer)"
echo "-- sheath server (the peer is the client certificate):"
grep 'end=' "$dir/server.log" | sed 's/^/   /'
echo "-- sheath client (the peer is the server certificate):"
grep 'end=' "$dir/client.log" | sed 's/^/   /'

echo "== 6. a client with a certificate from another CA is turned away"
"$SHEATH" --make-pair "$dir/rogue" --name legacy --backend 127.0.0.1:1 >/dev/null
cat >"$dir/rogue.conf" <<CONF
log_level = "info";
include_dir = "";
services = ( {
  name = "rogue"; mode = "client";
  accept = "127.0.0.1:$(port)"; connect = "localhost:$srv";
  cert = "$dir/rogue/client1/tls/legacy-client1.crt";
  key = "$dir/rogue/client1/tls/legacy-client1.key";
  ca = "$dir/etc/tls/ca.crt"; verify_name = "localhost";
} );
CONF
rogue=$(sed -n 's/.*accept = "127.0.0.1:\([0-9]*\)".*/\1/p' "$dir/rogue.conf")
"$SHEATH" -f -c "$dir/rogue.conf" 2>"$dir/rogue.log" &
pids="$pids $!"
wait_log "$dir/rogue.log" "listening on"
python3 - "$rogue" <<'PY'
import socket, sys
# The reset may come at any step: the rogue's own sheath resets the
# local connection when the server turns it away.
try:
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
    c.sendall(b"let me in"); c.shutdown(socket.SHUT_WR)
    got = c.recv(100)
except (ConnectionResetError, BrokenPipeError):
    got = b""
print("   the rogue client got %d bytes back" % len(got))
PY
wait_log "$dir/server.log" "rejected"
grep 'notice: .*rejected' "$dir/server.log" | sed 's/^/   /'
echo "== done: the backend saw only the authenticated client's bytes"
