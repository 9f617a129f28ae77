"""Forbid every socket in this process, and count the attempts.

Two layers, so that neither a module that kept its own reference to ``socket.socket`` nor one
that swallows the error and carries on can hide an attempt:

* ``socket.socket``, ``socket.create_connection``, ``socket.getaddrinfo`` (and friends) are
  replaced by versions that record the call and raise;
* a :func:`sys.addaudithook` hook sees CPython's own ``socket.*`` audit events (raised inside
  ``_socket`` whatever reference was used) and records and refuses them too.

``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are removed from the environment meanwhile,
so a passing test shows clave-lite needs no such switch to stay offline.

One call site is told apart, and still refused: urllib3's import-time probe for IPv6 support
(``urllib3/util/connection.py`` ``_has_ipv6`` creates a socket and binds it to ``::1``; it
sends nothing). It runs when the bake-time tools import ``transformers``/``huggingface_hub``
for the first time; it is recorded in ``attempts.loopback_probes``, not in ``attempts``.

Native code that opens sockets without Python (none is known in llama.cpp's library) is not
seen here; ``test_offline.py`` also runs the CLI in an empty network namespace for that.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from typing import Iterator

_EVENTS = ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
           "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sendmsg")
_active: list[list[str]] = []  # the attempt logs of the guards now active (nested guards all record)
_hook_installed = False


class NetworkForbidden(OSError):
    pass


class Attempts(list):
    """The socket attempts (strings); ``loopback_probes`` holds the known harmless probes."""

    def __init__(self) -> None:
        super().__init__()
        self.loopback_probes: list[str] = []


def _is_urllib3_ipv6_probe() -> bool:
    frame = sys._getframe(2)  # GuardedSocket.__init__ <- its caller
    code = frame.f_code
    return code.co_name == "_has_ipv6" and code.co_filename.replace("\\", "/").endswith("urllib3/util/connection.py")


def _record(what: str) -> None:
    for log in _active:
        log.append(what)


def _audit(event: str, args: tuple) -> None:
    if _active and event in _EVENTS:
        _record(f"audit {event} {args!r:.200}")
        raise NetworkForbidden(f"network access is forbidden in this test ({event})")


@contextlib.contextmanager
def forbid_network() -> Iterator[Attempts]:
    """``with forbid_network() as attempts: ...`` then ``assert attempts == []``."""
    global _hook_installed
    if not _hook_installed:  # audit hooks cannot be removed: install one, gated by _active
        sys.addaudithook(_audit)
        _hook_installed = True
    attempts = Attempts()
    real = {name: getattr(socket, name) for name in
            ("socket", "create_connection", "getaddrinfo", "gethostbyname", "socketpair", "fromfd")}

    class GuardedSocket(real["socket"]):  # a class, so isinstance checks elsewhere keep working
        def __init__(self, *args, **kwargs):
            if _is_urllib3_ipv6_probe():
                for log in _active:
                    getattr(log, "loopback_probes", log).append(f"urllib3 IPv6 probe socket.socket{args!r:.200}")
            else:
                _record(f"socket.socket{args!r:.200}")
            raise NetworkForbidden("network access is forbidden in this test (socket.socket)")

    def refuse(name: str):
        def guarded(*args, **kwargs):
            _record(f"socket.{name}{args!r:.200}")
            raise NetworkForbidden(f"network access is forbidden in this test (socket.{name})")
        return guarded

    saved_env = {k: os.environ.pop(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if k in os.environ}
    socket.socket = GuardedSocket  # type: ignore[misc]
    for name in real:
        if name != "socket":
            setattr(socket, name, refuse(name))
    _active.append(attempts)
    try:
        yield attempts
    finally:
        _active.remove(attempts)
        for name, obj in real.items():
            setattr(socket, name, obj)
        os.environ.update(saved_env)


def forbid_unpickling(monkeypatch) -> list[str]:
    """Make ``pickle.load``/``loads``/``Unpickler`` record the call and raise; returns the log.

    ``Unpickler`` stays a class (some libraries subclass it at import time); only using it fails.
    """
    import pickle

    calls: list[str] = []

    class GuardedUnpickler(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            calls.append("Unpickler")
            raise AssertionError("pickle.Unpickler used")

    def refuse(name):
        def guarded(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"pickle.{name} called")
        return guarded

    monkeypatch.setattr(pickle, "load", refuse("load"))
    monkeypatch.setattr(pickle, "loads", refuse("loads"))
    monkeypatch.setattr(pickle, "Unpickler", GuardedUnpickler)
    return calls
