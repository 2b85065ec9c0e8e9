#!/usr/bin/env python3
"""Whole-process measurement of `coapaudit view` on a pseudo-terminal.

Usage: scripts/bench-view.py [-r RUNS] BINARY CAPTURE [VIEW-FLAGS...]

Runs BINARY view CAPTURE under /usr/bin/time on a 120x36 pseudo-terminal,
notes when the first screen (the top bar with the frame count) is drawn,
waits until the process has used no CPU for a second (loading is done),
sends 'q' and reports per run: seconds to the first screen, seconds until
loading ended, user+system CPU seconds, peak RSS in MiB, and the size in
MB of the viewer's temporary files (the spilled frame and exchange
stores) when loading ended.
"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time


def cpu_ticks(pid):
    """User + system clock ticks of pid and its children that were waited for."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15])
    except OSError:
        return None


def temp_bytes(pid):
    """Bytes in the viewer's (unlinked) temporary files."""
    total = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if "coapaudit-view-" in os.readlink(path):
                    total += os.stat(path).st_size
            except OSError:
                pass
    except OSError:
        pass
    return total


def child_of(pid):
    """The first child of pid (the viewer under /usr/bin/time)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def run(binary, capture, flags):
    timefile = f"/tmp/bench-view-time.{os.getpid()}"
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp("/usr/bin/time", ["/usr/bin/time", "-o", timefile, "-f", "%e %U %S %M",
                                    binary, "view", *flags, capture])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    t0 = time.monotonic()
    first = None
    seen = b""
    last_ticks, idle_since, viewer = None, None, None
    loaded = None
    temp = 0
    sent_q = False
    while True:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            if first is None:
                seen = (seen + data)[-4096:]
                if b"frames" in seen:
                    first = time.monotonic() - t0
        if sent_q:
            continue
        viewer = viewer or child_of(pid)
        if viewer is None:
            continue
        ticks = cpu_ticks(viewer)
        now = time.monotonic()
        if ticks is None:
            continue
        if ticks != last_ticks:
            last_ticks, idle_since = ticks, now
        elif first is not None and now - idle_since >= 1.0:
            loaded = idle_since - t0
            temp = temp_bytes(viewer)
            os.write(fd, b"q")
            sent_q = True
    os.waitpid(pid, 0)
    with open(timefile) as f:
        wall, user, sys_, rss = f.read().split()[-4:]
    os.remove(timefile)
    return first, loaded, float(user) + float(sys_), int(rss) / 1024, temp / 1e6


def main():
    args = sys.argv[1:]
    runs = 1
    if args[:1] == ["-r"]:
        runs, args = int(args[1]), args[2:]
    binary, capture, flags = args[0], args[1], args[2:]
    print("first-screen-s\tloaded-s\tcpu-s\tpeak-RSS-MiB\ttemp-MB")
    for _ in range(runs):
        first, loaded, cpu, rss, temp = run(binary, capture, flags)
        print(f"{first:.3f}\t{loaded:.1f}\t{cpu:.1f}\t{rss:.0f}\t{temp:.0f}")


if __name__ == "__main__":
    main()
