"""A slow network path on loopback, in front of a ws-node (test/support/slow-link.ts starts it).

Loopback is not a real network for a sender: its 64 KiB segments make Linux give each new
connection a send buffer of about 2.5 MB (tcp_sndbuf_expand counts ten segments), so a multi-megabyte
WebSocket frame vanishes into the kernel at once and the server never sees backpressure. Over
Ethernet (MSS 1448) a new connection's send buffer takes about 80 KB and the rest of the frame waits
in the server's own buffer. Node cannot set TCP_MAXSEG, Python can: the proxy's connection to the
server announces an Ethernet MSS (and a 64 KiB receive buffer), so the server's kernel behaves as on
a real path, and the proxy carries the server's bytes to the client at RATE bytes per second.

argv: server port, rate (bytes/s), mss. Prints the port it listens on. stdin lines: "stop" (the
link stops carrying the server's bytes: the client no longer reads), "go". Exits when stdin closes.
"""
import os
import socket
import sys
import threading
import time

target, rate, mss = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
flowing = threading.Event()
flowing.set()


def close(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def pipe(src, dst, throttled):
    try:
        while True:
            if throttled:
                flowing.wait()
            data = src.recv(16384)
            if not data:
                break
            dst.sendall(data)
            if throttled:
                time.sleep(len(data) / rate)
    except OSError:
        pass
    close(src, dst)


def serve(listener):
    while True:
        client, _ = listener.accept()
        upstream = socket.socket()
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        try:
            upstream.connect(("127.0.0.1", target))
        except OSError:
            close(client, upstream)
            continue
        threading.Thread(target=pipe, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client, True), daemon=True).start()


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
threading.Thread(target=serve, args=(listener,), daemon=True).start()
for line in sys.stdin:
    if line.strip() == "stop":
        flowing.clear()
    elif line.strip() == "go":
        flowing.set()
os._exit(0)
