#!/usr/bin/env python3
"""Watch a path while something creates it: lstat(2) it in a tight loop
until --stop-file exists (at most --timeout s) and print every distinct
"MODE GROUP" (octal permission bits, group name) it was seen with, one per
line, in order; nothing if it never existed. Writes --ready-file once
watching. Used to check that a socket file never appears with permissions
other than its final ones."""

import argparse
import grp
import os
import stat
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    seen = []
    end = time.monotonic() + a.timeout
    with open(a.ready_file, "w"):
        pass
    n = 0
    while True:
        try:
            st = os.lstat(a.path)
            v = (stat.S_IMODE(st.st_mode), st.st_gid)
            if not seen or seen[-1] != v:
                seen.append(v)
        except FileNotFoundError:
            pass
        n += 1
        # The stop file and the clock are checked less often: lstat of
        # the path is what must run as often as possible.
        if n % 256 == 0 and (os.path.exists(a.stop_file) or
                             time.monotonic() > end):
            break
    for mode, gid in seen:
        try:
            name = grp.getgrgid(gid).gr_name
        except KeyError:
            name = str(gid)
        print("%o %s" % (mode, name))


if __name__ == "__main__":
    main()
