"""Files sent as http(s) URLs (API callers, MCP agents): fetched by the app itself before the run is queued.

Left to Gradio 6.31, a URL in a request is downloaded whole into memory, with no size cap and no deadline, while the
event already holds the model's slot: a 1.2 GB file cost 2.7 GB, a server sending one byte every 4 s held the model
for 92 s, a rank request with 300 URLs fetched all 300 before being told "2 to 8 clips", and refused downloads
stayed on disk. Here the request guard finds every URL first, refuses too many before any is fetched, and fetches
each one streamed to a file with the upload limit as its size cap and one deadline for the whole request; the
request then reaches Gradio with local files in the upload folder. A refused fetch leaves nothing on disk.

Only public addresses are fetched (the host is resolved once and that address is the one connected to, so a name
cannot be re-pointed at the server's own network between the check and the connection); loopback, private and
link-local addresses are refused unless a deployment lists the host in $VS2_FETCH_PRIVATE_HOSTS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from vs2demo.serve.views import MAX_RANK_CLIPS

log = logging.getLogger(__name__)

MAX_FILES_PER_REQUEST = MAX_RANK_CLIPS  # the most any endpoint takes (rank)
DEADLINE_S = 60.0  # for every URL of one request together
MAX_REDIRECTS = 3
MAX_CONCURRENT = 4  # fetches in flight on the whole server; more are refused, not queued
CHUNK = 1 << 16
FOLDER = "vs2-fetched"


class FetchRefused(Exception):
    """A URL that is not fetched; the message says why, in one line a visitor can act on."""


@dataclass(frozen=True)
class FetchSettings:
    max_bytes: int  # per file: the upload limit
    folder: Path  # where fetched files go: inside Gradio's upload folder, so the page's path check accepts them
    deadline_s: float = DEADLINE_S
    private_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_env(cls, max_bytes: int, upload_folder: str) -> FetchSettings:
        hosts = os.environ.get("VS2_FETCH_PRIVATE_HOSTS", "")
        return cls(max_bytes, Path(upload_folder) / FOLDER,
                   float(os.environ.get("VS2_FETCH_DEADLINE_S", DEADLINE_S)),
                   frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()))


def is_file_data(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("meta"), dict) and \
        node["meta"].get("_type") == "gradio.FileData"


def file_data(data: Any) -> list[dict]:
    """Every file (a FileData dict) in a request's data, nested lists included."""
    if is_file_data(data):
        return [data]
    if isinstance(data, list):
        return [f for item in data for f in file_data(item)]
    if isinstance(data, dict):
        return [f for item in data.values() for f in file_data(item)]
    return []


def url_files(data: Any) -> list[dict]:
    """The files Gradio would download: those whose path is an http(s) URL."""
    return [f for f in file_data(data) if isinstance(f.get("path"), str) and f["path"].startswith(
        ("http://", "https://"))]


class Fetcher:
    """Fetches the URL files of one request at a time per call, at most MAX_CONCURRENT calls on the server."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self.active = 0

    async def localise(self, files: list[dict]) -> None:
        """Fetch every file's URL and point the file at the local copy; on any refusal nothing stays on disk."""
        if len(files) > MAX_FILES_PER_REQUEST:
            raise FetchRefused(f"Send at most {MAX_FILES_PER_REQUEST} files in one request (got {len(files)}); "
                               f"rank takes 2 to {MAX_FILES_PER_REQUEST} clips.")
        if self.active >= MAX_CONCURRENT:
            raise FetchRefused("The server is fetching other files right now; try again in a minute, or upload "
                               "the file itself.")
        self.active += 1
        folder = self.settings.folder / uuid.uuid4().hex
        try:
            async with asyncio.timeout(self.settings.deadline_s):
                for f in files:
                    f["path"] = str(await self._fetch(f["path"], folder))
                    f.pop("url", None)
        except TimeoutError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise FetchRefused(f"Fetching the file took longer than {self.settings.deadline_s:g} s; upload the "
                               "file itself.") from exc
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            self.active -= 1

    async def _fetch(self, url: str, folder: Path) -> Path:
        import httpx

        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{len(list(folder.iterdir()))}-{_file_name(url)}"
        async with httpx.AsyncClient(follow_redirects=False, timeout=self.settings.deadline_s) as client:
            for _ in range(MAX_REDIRECTS + 1):
                request = await self._request(client, url)
                async with client.stream(request.method, request.url, headers=request.headers,
                                         extensions=request.extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise FetchRefused(f"{_shown(url)} answered HTTP {response.status_code}.")
                    await self._save(response, target, url)
                    return target
        raise FetchRefused(f"{_shown(url)} redirects more than {MAX_REDIRECTS} times.")

    async def _request(self, client: Any, url: str) -> Any:
        """A GET to the resolved, checked address of ``url``'s host (the name kept for Host and TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"Only http(s) URLs are fetched (got {_shown(url)}).")
        host = parts.hostname.lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._address(host, port)
        import httpx

        pinned = httpx.URL(url).copy_with(host=address)
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        # identity: the bytes counted against the cap are the bytes written (no compressed bomb to unpack)
        return client.build_request("GET", pinned, headers={"Host": parts.netloc.rsplit("@", 1)[-1],
                                                             "Accept-Encoding": "identity"}, extensions=extensions)

    async def _address(self, host: str, port: int) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise FetchRefused(f"The host {host[:80]} cannot be found.") from exc
        addresses = [info[4][0] for info in infos]
        if host not in self.settings.private_hosts and not all(ipaddress.ip_address(a).is_global for a in addresses):
            raise FetchRefused(f"{host[:80]} is not a public address: only public URLs are fetched.")
        return addresses[0]

    async def _save(self, response: Any, target: Path, url: str) -> None:
        limit = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchRefused(f"{_shown(url)} is {int(declared) / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB.")
        size = 0
        with open(target, "wb") as sink:
            async for chunk in response.aiter_raw(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FetchRefused(f"{_shown(url)} is larger than the limit of {limit / 1e6:g} MB.")
                sink.write(chunk)
        log.info("fetched %s bytes from %s", size, _shown(url))


def _file_name(url: str) -> str:
    name = unquote(Path(urlsplit(url).path).name)
    return re.sub(r"[^\w.\-]+", "_", name)[-100:] or "video"


def _shown(url: str) -> str:
    """A URL as a message shows it: scheme, host and path, no query (it may carry a token), cut short."""
    parts = urlsplit(url)
    text = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    return text if len(text) <= 80 else text[:77] + "…"
