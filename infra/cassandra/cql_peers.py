#!/usr/bin/env python3
"""Print the peers a Cassandra node knows, one address a line (stdlib only, no driver needed).

Asks HOST:PORT (default 127.0.0.1:9042) for `SELECT peer FROM system.peers`: the other nodes
this one has seen join the ring (infra/cluster.sh checks every node sees the others). Exit 0
when the node answered, whatever the number of peers.

usage: cql_peers.py [HOST] [PORT] [TIMEOUT_SECONDS]
"""
import ipaddress
import struct
import sys

from cql_ready import address, connect, query, rows


def main():
    host, port, timeout = address(sys.argv)
    try:
        with connect(host, port, timeout) as sock:
            result = query(sock, 2, "SELECT peer FROM system.peers")
        for (peer,) in rows(result):
            if peer is not None:
                print(ipaddress.ip_address(peer))
        return 0
    except (OSError, ConnectionError, RuntimeError, ValueError, struct.error) as exc:
        print("CQL not answering on %s:%d: %s" % (host, port, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
