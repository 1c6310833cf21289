"""A fake Docker engine: the part of the Engine HTTP API that testcontainers and docker-py use to run a
container, served on a loopback port, so that the real client code runs up to the engine boundary.

Point a process at it with `DOCKER_HOST=tcp://HOST:PORT`. It keeps every request; containers never
run, but each published port is a real listening socket (so testcontainers' Ryuk reaper can
connect), and a container's log says Mosquitto is running once per start.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"
RUNNING_LINE = b"1700000000: mosquitto version 2.0.20 running\n"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeContainer:
    id: str
    create: dict[str, Any]
    bindings: dict[str, list[dict[str, str]]]
    starts: int = 0
    running: bool = False
    removed: bool = False


@dataclass
class FakeEngine:
    host: str = "127.0.0.2"  # not "localhost": testcontainers then maps ports as for a remote engine
    requests: list[Request] = field(default_factory=list)
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    pulled: set[str] = field(default_factory=set)
    _listeners: list[socket.socket] = field(default_factory=list)

    def __enter__(self) -> FakeEngine:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                engine.handle(self)

            do_HEAD = do_POST = do_DELETE = do_GET

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        for listener in self._listeners:
            listener.close()

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self._server.server_address[1]}"

    def created(self, image: str) -> list[FakeContainer]:
        """Every container created from `image`, removed ones too."""
        return [container for container in self.containers.values() if container.create["Image"] == image]

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # --- the API ----------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = re.sub(r"^/v[\d.]+", "", unquote(parts.path))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request = Request(handler.command, path, parse_qs(parts.query), json.loads(raw) if raw else None)
        self.requests.append(request)
        status, body, content_type = self.route(request)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Api-Version", API_VERSION)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def route(self, request: Request) -> tuple[int, bytes, str]:
        method, path = request.method, request.path
        if path == "/_ping":
            return 200, b"OK", "text/plain"
        if path == "/version":
            return self._json({"ApiVersion": API_VERSION, "Version": "27.0.0", "MinAPIVersion": "1.24", "Os": "linux"})
        if method == "GET" and (match := re.fullmatch(r"/images/(.+)/json", path)):
            if match.group(1) not in self.pulled:
                return self._json({"message": f"No such image: {match.group(1)}"}, 404)
            return self._json({"Id": "sha256:" + "0" * 64, "RepoTags": [match.group(1)]})
        if method == "POST" and path == "/images/create":
            image = request.query["fromImage"][0]
            self.pulled.add(f"{image}:{request.query.get('tag', ['latest'])[0]}")
            return self._json({"status": f"Pulled {image}"})
        if method == "POST" and path == "/containers/create":
            return self._create(request.body)
        if method == "GET" and path == "/containers/json":
            live = [container for container in self.containers.values() if not container.removed]
            return self._json([self._summary(container) for container in live])
        match = re.fullmatch(r"/containers/([^/]+)(/\w+)?", path)
        container = self.containers.get(match.group(1)) if match else None
        if container is None or container.removed:
            return self._json({"message": f"{method} {path}: not emulated"}, 404)
        action = match.group(2) if match else None
        if method == "GET" and action == "/json":
            return self._json(self._inspect(container))
        if method == "POST" and action == "/start":
            container.running, container.starts = True, container.starts + 1
            return 204, b"", "text/plain"
        if method == "POST" and action == "/stop":
            container.running = False
            return 204, b"", "text/plain"
        if method == "GET" and action == "/logs":
            stderr = request.query.get("stderr") == ["1"]
            line = RUNNING_LINE * container.starts if stderr else b""
            frame = struct.pack(">BxxxL", 2, len(line)) + line if line else b""
            return 200, frame, "application/vnd.docker.raw-stream"
        if method == "DELETE" and action is None:
            container.running, container.removed = False, True
            return 204, b"", "text/plain"
        return self._json({"message": f"{method} {path}: not emulated"}, 404)

    def _create(self, body: dict[str, Any]) -> tuple[int, bytes, str]:
        container_id = f"{len(self.containers) + 1:064x}"
        bindings: dict[str, list[dict[str, str]]] = {}
        for port, binds in (body.get("HostConfig", {}).get("PortBindings") or {}).items():
            bindings[port] = [
                {"HostIp": bind.get("HostIp") or "0.0.0.0", "HostPort": bind.get("HostPort") or self._listen()}
                for bind in binds
            ]
        self.containers[container_id] = FakeContainer(container_id, body, bindings)
        return self._json({"Id": container_id, "Warnings": []}, 201)

    def _listen(self) -> str:
        """A port chosen as the engine would choose one, and open, as a published port is."""
        listener = socket.socket()
        listener.bind((self.host, 0))
        listener.listen(8)
        self._listeners.append(listener)
        return str(listener.getsockname()[1])

    def _inspect(self, container: FakeContainer) -> dict[str, Any]:
        status = "running" if container.running else "exited"
        return {
            "Id": container.id,
            "Name": "/fake",
            "Image": container.create["Image"],
            "Config": {**container.create, "Tty": False},
            "HostConfig": container.create.get("HostConfig", {}),
            "State": {"Status": status, "Running": container.running, "ExitCode": 0},
            "NetworkSettings": {
                "Ports": container.bindings if container.running else {},
                "Networks": {"bridge": {"Gateway": "172.17.0.1", "IPAddress": "172.17.0.2"}},
            },
        }

    def _summary(self, container: FakeContainer) -> dict[str, Any]:
        inspect = self._inspect(container)
        return {"Id": container.id, "Image": inspect["Image"], "State": inspect["State"]["Status"], **inspect}

    @staticmethod
    def _json(value: object, status: int = 200) -> tuple[int, bytes, str]:
        return status, json.dumps(value).encode(), "application/json"
