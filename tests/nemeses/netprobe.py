"""Measuring links between local-namespace nodes with real packets: UDP delivery ratio and TCP transfer time.
Helpers for the packet and swizzle tests; they run /usr/bin/python3 inside the nodes' namespaces."""

from __future__ import annotations

import subprocess
import time

PY = "/usr/bin/python3"

_RECV = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
"""

_SEND = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"x" * 64, (sys.argv[1], int(sys.argv[2])))
    if i % 50 == 0:
        time.sleep(0.002)
"""

_TCP_RECV = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
c.sendall(b"done"); c.close(); print(n, flush=True)
"""

_TCP_SEND = r"""
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
t = time.monotonic(); c.sendall(b"y" * int(sys.argv[3])); c.shutdown(socket.SHUT_WR); c.recv(16)
print(time.monotonic() - t)
"""


def udp_delivery(src_ns: str, dst_ns: str, dst_ip: str, count: int = 2000, port: int = 9911) -> float:
    """Fraction of `count` UDP datagrams sent from src_ns that arrive at dst_ip in dst_ns."""
    recv = subprocess.Popen(["ip", "netns", "exec", dst_ns, PY, "-c", _RECV, dst_ip, str(port), "1.5"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", src_ns, PY, "-c", _SEND, dst_ip, str(port), str(count)],
                       check=True, timeout=60)
        out, _ = recv.communicate(timeout=60)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    return int(out.strip().splitlines()[-1]) / count


def tcp_transfer_seconds(src_ns: str, dst_ns: str, dst_ip: str, nbytes: int, port: int = 9912) -> float:
    """Seconds to send `nbytes` over TCP from src_ns to dst_ip (until the receiver acknowledges the end)."""
    recv = subprocess.Popen(["ip", "netns", "exec", dst_ns, PY, "-c", _TCP_RECV, dst_ip, str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        p = subprocess.run(["ip", "netns", "exec", src_ns, PY, "-c", _TCP_SEND, dst_ip, str(port), str(nbytes)],
                           check=True, timeout=60, capture_output=True, text=True)
        assert time.monotonic() - t0 < 60
        recv.communicate(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()
    return float(p.stdout.strip())
