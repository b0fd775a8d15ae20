#!/usr/bin/env python3
"""Captures what pylogbeat writes on the wire, for tests/lumberjack_pylogbeat.rs.

Runs a minimal Lumberjack v2 server on loopback that records every byte the
client sends and answers each window with a keepalive ACK(0) followed by the
ACK of the window's last sequence number; pylogbeat must accept both. Writes
pylogbeat-2.1.0-session.bin (client -> server bytes) and
pylogbeat-2.1.0-session.acks (one hex ACK per line, server -> client) next to
this script. Deterministic: rerunning gives the same files.

    pip install pylogbeat==2.1.0 && python3 tests/data/capture_pylogbeat.py
"""
import hashlib
import os
import socket
import struct
import threading
import zlib

from pylogbeat import PyLogBeatClient

HERE = os.path.dirname(os.path.abspath(__file__))


def recv_exact(conn, n, log):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    log.append(data)
    return data


def serve(listener, log, acks):
    conn, _ = listener.accept()
    with conn:
        try:
            while True:
                version, kind, count = struct.unpack(">BBI", recv_exact(conn, 6, log))
                assert (version, kind) == (0x32, 0x57), (version, kind)
                frames_seen, last_seq = 0, 0
                while frames_seen < count or count == 0:
                    version, kind, length = struct.unpack(">BBI", recv_exact(conn, 6, log))
                    assert kind == 0x43
                    inner = zlib.decompress(recv_exact(conn, length, log))
                    while inner:
                        _, _, seq, jlen = struct.unpack(">BBII", inner[:10])
                        inner = inner[10 + jlen:]
                        frames_seen += 1
                        last_seq = seq
                    if count == 0:
                        break
                for seq in (0, last_seq):
                    ack = struct.pack(">BBI", 0x32, 0x41, seq)
                    conn.sendall(ack)
                    acks.append(ack)
        except EOFError:
            pass


def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    log, acks = [], []
    server = threading.Thread(target=serve, args=(listener, log, acks))
    server.start()
    port = listener.getsockname()[1]
    with PyLogBeatClient("127.0.0.1", port, timeout=5) as client:
        client.send(['{"message":"hi"}'])
        client.send([{"message": "hi"}, {"message": "yo"}])
        events = []
        for i in range(300):
            events.append({
                "@timestamp": "2024-05-01T12:00:%02d.%06d" % (i % 60, i * 1234),
                "@version": "1",
                "host": "app-%d" % (i % 7),
                "level": ["INFO", "WARNING", "ERROR"][i % 3],
                "logger_name": "weir.capture",
                "message": "event %d: caf\u00e9 \u2603 \"quoted\" \\ tab\t %s" % (i, "x" * (i % 50)),
                "trace_id": hashlib.sha256(b"%d" % i).hexdigest(),
                "extra": {"n": i, "ratio": i / 7, "ok": i % 2 == 0, "none": None},
            })
        client.send(events)
    server.join()
    listener.close()
    with open(os.path.join(HERE, "pylogbeat-2.1.0-session.bin"), "wb") as f:
        f.write(b"".join(log))
    with open(os.path.join(HERE, "pylogbeat-2.1.0-session.acks"), "w") as f:
        f.write("".join(ack.hex() + "\n" for ack in acks))
    print(len(b"".join(log)), "bytes,", len(acks), "acks")


if __name__ == "__main__":
    main()
