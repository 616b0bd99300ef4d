"""Gunicorn's threaded worker, changed so that idle or slow clients cost no thread.

Stock gthread (gunicorn 27) hands every new connection to a thread, which waits up to 5 s for
its first bytes and then blocks reading the headers. 500 connections that send nothing (or
half a request) therefore queue ahead of real requests: measured with 2 workers of 8 threads,
a normal request got no answer within 30 s (the sync worker is worse: one idle client holds a
whole process). Here the worker's event loop reads each request head itself, without blocking,
and hands only a complete head to a thread; a head that is not complete within `timeout`
seconds of the connection (or of the previous answer, on a kept-alive connection) is dropped.
Reading a body and writing the answer still block a thread, so those sockets time out after
`timeout` seconds of silence; a thread, not the event loop, closes a finished connection
(gunicorn's graceful close may wait up to 2 s for the client).

TLS is served by the stock path (its bytes are no request head); terminate TLS at the proxy.
"""

from __future__ import annotations

import errno
import selectors
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker, TConn

#: above this, a head is handed over unfinished, so the parser refuses it (431/400)
_MAX_HEAD = 1024 * 1024


class _Connection(TConn):
    def __init__(self, *args):
        super().__init__(*args)
        self.head = bytearray()
        self.closed = False

    def init(self):
        super().init()
        if self.head:                                 # what the event loop read goes first
            self.parser.unreader.unread(bytes(self.head))
            self.head.clear()
        self.sock.settimeout(self.cfg.timeout)        # a silent body or a stalled reader

    def close(self, graceful=False):
        if self.closed:
            return
        self.closed = True
        try:
            super().close(graceful)
        except OSError:                               # already closed by the request handler
            pass


class HeadReadingWorker(ThreadWorker):
    def accept(self, listener):
        if self.cfg.is_ssl:
            return super().accept(listener)
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._await_head(_Connection(self.cfg, sock, client, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection's next request: its head is read here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn)
        self._read_head(conn)

    def _await_head(self, conn):
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.cfg.timeout   # murder_pending drops it after that
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn, _sock=None):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            conn.head += data
            if b"\r\n\r\n" not in conn.head and b"\n\n" not in conn.head and len(conn.head) <= _MAX_HEAD:
                return
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        if not data:                                  # the client went away
            self.nr_conns -= 1
            conn.close()
            return
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn):
        keep = super().handle(conn)
        if keep is False:
            conn.close(graceful=True)                 # here, so the event loop never waits for it
        return keep
