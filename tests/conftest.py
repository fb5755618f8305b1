"""Shared test set-up. Fixtures for model dirs and tiny data sets live in fixtures_model.py."""

from __future__ import annotations

import socket

import pytest

pytest_plugins = ["fixtures_model"]


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The product works offline: any attempt to open a network connection fails the test."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise NetworkAccessError(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, *a, **k: (_ for _ in ()).throw(
                            NetworkAccessError(f"test tried to connect to {address!r}")))
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: (_ for _ in ()).throw(
                            NetworkAccessError(f"test tried to resolve {host!r}")))
