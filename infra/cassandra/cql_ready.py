#!/usr/bin/env python3
"""Exit 0 only if a Cassandra node really serves CQL (stdlib only, no driver needed).

Speaks native protocol v4 on HOST:PORT (default 127.0.0.1:9042): STARTUP must get READY, then
`SELECT release_version FROM system.local` must get a Rows RESULT. An open port alone is not
enough - Cassandra binds 9042 slightly before it can answer queries. Prints the version.

usage: cql_ready.py [HOST] [PORT] [TIMEOUT_SECONDS]
"""
import socket
import struct
import sys

VERSION = 0x04  # v4 has no v5 segment framing; every Cassandra from 2.2 to 5.x accepts it
OP_ERROR, OP_STARTUP, OP_READY, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x07, 0x08
CONSISTENCY_ONE = 0x0001
RESULT_ROWS = 0x0002


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


def request(sock, stream, opcode, body):
    sock.sendall(struct.pack(">BBhBI", VERSION, 0, stream, opcode, len(body)) + body)
    version, _flags, _stream, op, length = struct.unpack(">BBhBI", recv_exact(sock, 9))
    body = recv_exact(sock, length)
    if op == OP_ERROR:
        code = struct.unpack(">i", body[:4])[0]
        (mlen,) = struct.unpack(">H", body[4:6])
        raise RuntimeError("CQL error 0x%04x: %s" % (code, body[6:6 + mlen].decode(errors="replace")))
    return op, body


def rows(body):
    """The cells (bytes, or None for null) of each row of a Rows result.

    Columns of simple types only (text, inet, uuid, ...: no type data after the type id).
    """
    pos = 4  # skip the result kind
    flags, ncols = struct.unpack(">ii", body[pos:pos + 8])
    pos += 8

    def skip_string():
        nonlocal pos
        (n,) = struct.unpack(">H", body[pos:pos + 2])
        pos += 2 + n

    if flags & 0x0002:  # has_more_pages: paging state [bytes]
        (n,) = struct.unpack(">i", body[pos:pos + 4])
        pos += 4 + max(n, 0)
    if flags & 0x0004:  # no_metadata
        raise ValueError("no column metadata")
    if flags & 0x0001:  # global table spec: keyspace, table
        skip_string(); skip_string()
    for _ in range(ncols):
        if not flags & 0x0001:
            skip_string(); skip_string()
        skip_string()      # column name
        (type_id,) = struct.unpack(">H", body[pos:pos + 2])
        if type_id == 0x0000 or type_id >= 0x0020:
            raise ValueError("column type 0x%04x is not a simple type" % type_id)
        pos += 2
    (nrows,) = struct.unpack(">i", body[pos:pos + 4])
    pos += 4
    result = []
    for _ in range(nrows):
        row = []
        for _ in range(ncols):
            (n,) = struct.unpack(">i", body[pos:pos + 4])
            pos += 4
            row.append(body[pos:pos + n] if n >= 0 else None)
            pos += max(n, 0)
        result.append(row)
    return result


def first_text_cell(body):
    """Decode the first cell of a Rows result whose columns are all text."""
    found = rows(body)
    if not found:
        raise ValueError("system.local returned no rows")
    return found[0][0].decode()


def connect(host, port, timeout):
    """A socket to HOST:PORT on which STARTUP got READY."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        startup = struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")
        op, _ = request(sock, 1, OP_STARTUP, startup)
        if op != OP_READY:
            raise RuntimeError("STARTUP answered with opcode 0x%02x, expected READY" % op)
    except BaseException:
        sock.close()
        raise
    return sock


def query(sock, stream, cql):
    """Run CQL at consistency ONE and return the result's rows (see ``rows``)."""
    qb = cql.encode()
    body = struct.pack(">i", len(qb)) + qb + struct.pack(">HB", CONSISTENCY_ONE, 0)
    op, result = request(sock, stream, OP_QUERY, body)
    if op != OP_RESULT or struct.unpack(">i", result[:4])[0] != RESULT_ROWS:
        raise RuntimeError("QUERY answered with opcode 0x%02x, expected a Rows RESULT" % op)
    return result


def address(argv):
    """HOST PORT TIMEOUT_SECONDS from the command line (defaults 127.0.0.1, 9042, 5)."""
    host = argv[1] if len(argv) > 1 else "127.0.0.1"
    port = int(argv[2]) if len(argv) > 2 else 9042
    timeout = float(argv[3]) if len(argv) > 3 else 5.0
    return host, port, timeout


def main():
    host, port, timeout = address(sys.argv)
    try:
        with connect(host, port, timeout) as sock:
            result = query(sock, 2, "SELECT release_version FROM system.local")
            print("Cassandra %s serving CQL on %s:%d" % (first_text_cell(result), host, port))
            return 0
    except (OSError, ConnectionError, RuntimeError, ValueError, struct.error) as exc:
        print("CQL not ready on %s:%d: %s" % (host, port, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
