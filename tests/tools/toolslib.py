"""Shared bits of the sheath test tools (stdlib only).

Addresses are written as sheath writes them: HOST:PORT, [V6ADDR]:PORT or
unix:/path. Data for transfers comes from data_source(): a seeded,
non-repeating-enough stream that is cheap to produce for gigabytes (random
slices of a random pool, so a dropped, duplicated or re-sent span changes
the SHA-256).
"""

import hashlib
import os
import random
import signal
import socket
import sys

CHUNK = 65521  # deliberately not a power of two
POOL = 4 << 20


def parse_size(text):
    """'123', '16K', '1M', '1G' (binary units) -> int."""
    text = text.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper())
    if mult:
        return int(text[:-1]) * mult
    return int(text)


def parse_addr(text):
    """Return (family, sockaddr) for HOST:PORT, [V6]:PORT or unix:/path."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[5:]
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("bad address: %r" % text)
        return socket.AF_INET6, (host, int(port))
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("bad address: %r" % text)
    return socket.AF_INET, (host or "127.0.0.1", int(port))


def listen(text, backlog=128):
    family, addr = parse_addr(text)
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_UNIX:
        try:
            os.unlink(addr)
        except FileNotFoundError:
            pass
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(addr)
    sock.listen(backlog)
    return sock


def connect(text, timeout=None):
    family, addr = parse_addr(text)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(addr)
    return sock


def local_name(sock):
    """The local address as sheath logs a peer: IP:PORT, [V6]:PORT, or unix."""
    name = sock.getsockname()
    if sock.family == socket.AF_INET6:
        return "[%s]:%d" % (name[0], name[1])
    if sock.family == socket.AF_INET:
        return "%s:%d" % name
    return "unix"


def lifetime(seconds):
    """Kill this process (SIGALRM, default action) after SECONDS."""
    if seconds and seconds > 0:
        signal.alarm(max(1, int(seconds)))


def data_source(size, seed=None, path=None):
    """Yield SIZE bytes in chunks: from PATH, else seeded pseudo-random."""
    if path is not None:
        with open(path, "rb") as f:
            while True:
                block = f.read(1 << 20)
                if not block:
                    return
                yield block
        return
    rng = random.Random(seed if seed is not None else os.urandom(16))
    if size <= POOL:
        if size:
            yield rng.randbytes(size)
        return
    pool = memoryview(rng.randbytes(POOL + CHUNK))
    left = size
    while left > 0:
        n = min(CHUNK, left)
        off = rng.randrange(POOL)
        yield pool[off:off + n]
        left -= n


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Hasher:
    def __init__(self):
        self.h = hashlib.sha256()
        self.n = 0

    def update(self, data):
        self.h.update(data)
        self.n += len(data)

    def hexdigest(self):
        return self.h.hexdigest()

    def digest(self):
        return self.h.digest()


def read_to_eof(sock, hasher, echo=None):
    """Read sock until the peer's end of stream, hashing what arrives; with
    echo (a Hasher), also send each piece back and hash it there. Returns how
    the stream ended: eof, reset, timeout or error:NAME."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    try:
        while True:
            n = sock.recv_into(buf)
            if n == 0:
                return "eof"
            hasher.update(view[:n])
            if echo is not None:
                sock.sendall(view[:n])
                echo.update(view[:n])
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error:" + type(e).__name__


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 for listeners, from below the
    kernel's ephemeral range where there is room. A port that bind(0) hands
    out may be taken by some outgoing connection (of this test or one running
    beside it) before the listener binds it; outgoing connections never use
    ports below that range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = list(range(10000, low))
    random.shuffle(candidates)
    socks = []
    for port in candidates:
        if len(socks) == n:
            break
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    while len(socks) < n:  # no room below the range: the kernel's choice
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
