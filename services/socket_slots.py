"""A cap on the sockets one address holds open in one server process.

The count lives in the process (each worker counts its own sockets), so with
N workers an address may hold up to N times the cap; it stops one client from
pinning a worker's greenlets and file descriptors, not a distributed attack.
"""
import threading


class AddressSlots:
    """Open sockets per address, taken before the upgrade and given back when the socket's request ends."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open = {}

    def take(self, address, limit):
        """Reserve a slot for address; False when it holds limit already (a limit of 0 means no cap)."""
        with self._lock:
            held = self._open.get(address, 0)
            if limit and held >= limit:
                return False
            self._open[address] = held + 1
            return True

    def give_back(self, address):
        with self._lock:
            held = self._open.get(address, 0) - 1
            if held > 0:
                self._open[address] = held
            else:
                self._open.pop(address, None)

    def held(self, address):
        with self._lock:
            return self._open.get(address, 0)
