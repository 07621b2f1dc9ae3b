#!/usr/bin/env python3
"""free-ports.py N: N distinct free TCP ports on 127.0.0.1 for listeners, on
one line (toolslib.free_ports: below the kernel's ephemeral range)."""

import sys

import toolslib

if __name__ == "__main__":
    print(" ".join(str(p) for p in toolslib.free_ports(int(sys.argv[1]))))
