#!/usr/bin/env python3
"""stalled_handshakes.py PORT N SECONDS

N TLS clients of 127.0.0.1:PORT that each send a real ClientHello and then
nothing, the first step of a slow-handshake attack. A connection the server
closes (its header deadline) is opened again. Prints "held N" once the
server has answered every one (its first flight arrived), then holds them
for SECONDS. Bounded: at most 256 clients and 300 s."""
import socket
import ssl
import sys
import time


def client_hello():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = ssl.MemoryBIO()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def open_one(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(client_hello())
    s.setblocking(False)
    return s


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    port, n, secs = int(sys.argv[1]), min(int(sys.argv[2]), 256), min(float(sys.argv[3]), 300.0)
    socks = [open_one(port) for _ in range(n)]
    answered = [False] * n
    reported = False
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for i, s in enumerate(socks):
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                answered[i] = True
            else:  # closed by the server: the attacker comes back
                s.close()
                socks[i] = open_one(port)
        if not reported and all(answered):
            print("held %d" % n, flush=True)
            reported = True
        time.sleep(0.1)
    if not reported:
        sys.exit("the server did not answer every ClientHello")


if __name__ == "__main__":
    main()
