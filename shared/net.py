"""Is a service reachable at all? A fast check before a network job, so that a machine
without network gets one line at once instead of minutes of retries."""

from __future__ import annotations

import socket
import threading

__all__ = ["unresolvable"]


def unresolvable(host: str, timeout_s: float = 10.0) -> str | None:
    """Why ``host`` cannot be resolved (the resolver's message), or None when it resolves or
    the resolver gives no answer within ``timeout_s`` (then the caller's own retries judge)."""
    answer: list[OSError | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, None)
            answer.append(None)
        except OSError as e:
            answer.append(e)

    worker = threading.Thread(target=resolve, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if answer and isinstance(answer[0], socket.gaierror):
        return str(answer[0])
    return None
