"""A small Hub-compatible HTTP server for tests: the real huggingface_hub client talks to it.

It keeps model and Space repos in memory with git-like commits and behaves like the Hub where the client
depends on it: writes need a valid token, private repos are hidden without one, files the Hub
keeps in LFS (weights, images, anything large or binary) go through the LFS batch API with their
SHA-256 checked, errors carry `X-Error-Code`, and a commit that changes nothing is never made
(the client skips unchanged files from the oids that preupload returns).

Only the endpoints the client uses for upload_folder, create_repo, snapshot_download,
hf_hub_download and model cards are served (for models, Spaces and data sets: `repo_type`), with
Xet disabled (HF_HUB_DISABLE_XET=1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlparse

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".png", ".gif", ".jpg", ".pt")
LFS_MIN_SIZE = 10 * 1024 * 1024


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class StoredFile:
    content: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        """What preupload reports and the client compares: SHA-256 for LFS, git SHA-1 otherwise."""
        return hashlib.sha256(self.content).hexdigest() if self.lfs else git_blob_sha1(self.content)


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, list[Commit]] = field(default_factory=lambda: {"main": []})

    @property
    def commits(self) -> list[Commit]:
        return self.branches["main"]

    def resolve(self, revision: str) -> Optional[Commit]:
        revision = unquote(revision)
        if revision in self.branches:
            return self.branches[revision][-1]
        return next((c for commits in self.branches.values() for c in commits if c.sha == revision), None)


class HubState:
    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens  # token -> user name
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def commit(self, repo: Repo, message: str, files: dict[str, StoredFile], branch: str = "main") -> Commit:
        sha = hashlib.sha1(f"{repo.repo_id}{branch}{len(repo.branches[branch])}{message}{time.time_ns()}".encode()).hexdigest()
        commit = Commit(sha, message, files)
        repo.branches[branch].append(commit)
        return commit


class HubHandler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    # --- plumbing -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.headers['Host']}"

    def user(self) -> Optional[str]:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        return self.state.tokens.get(token) if token else None

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload=None, headers: Optional[dict] = None, raw: Optional[bytes] = None, head: bool = False):
        data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def error(self, status: int, code: Optional[str], message: str, head: bool = False):
        self.reply(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message} if code else None, head=head)

    def readable_repo(self, repo_id: str, head: bool = False) -> Optional[Repo]:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and self.user() is None):
            # The Hub does not reveal private repos: the same answer as a missing one.
            self.error(401 if self.user() is None else 404, "RepoNotFound", f"Repository Not Found for url: {self.path}.", head)
            return None
        return repo

    def writable_repo(self, repo_id: str) -> Optional[Repo]:
        if self.user() is None:
            self.error(401, None, "Invalid credentials in Authorization header")
            return None
        return self.readable_repo(repo_id)

    @staticmethod
    def key(kind: Optional[str], repo_id: str) -> str:
        """Where a repo is kept: models by their id, Spaces and data sets under their kind."""
        return repo_id if kind in (None, "models", "model") else f"{kind.rstrip('s')}s/{repo_id}"

    # --- routes -------------------------------------------------------------------------------
    def do_HEAD(self):
        self.route("HEAD")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def route(self, method: str):
        url = urlparse(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        with self.state.lock:
            self.state.requests.append((method, path))
        routes = [
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("POST", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", self.preupload),
            ("POST", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", self.create_commit),
            ("POST", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>[^/]+)", self.create_branch),
            ("POST", r"/(?:(?P<kind>spaces|datasets)/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", self.lfs_batch),
            ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self.lfs_upload),
            ("POST", r"/lfs-verify/(?P<oid>[0-9a-f]{64})", self.lfs_verify),
            ("GET", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/]+)", self.revision_info),
            ("GET", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<subpath>.*))?", self.tree),
            ("GET", r"/api/(?P<kind>models|spaces|datasets)/(?P<repo>[^/]+/[^/]+)", self.revision_info),
            ("HEAD", r"/(?:(?P<kind>spaces|datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
            ("GET", r"/(?:(?P<kind>spaces|datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self.resolve),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                with self.state.lock:
                    return handler(query=query, head=method == "HEAD", **match.groupdict())
        self.body()
        self.error(404, None, f"No route for {method} {path}", head=method == "HEAD")

    def create_repo(self, query, head):
        payload = json.loads(self.body() or b"{}")
        user = self.user()
        if user is None:
            return self.error(401, None, "Invalid credentials in Authorization header")
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        key = self.key(payload.get("type"), repo_id)
        url = f"{self.endpoint}/{key}"
        if key in self.state.repos:
            return self.reply(409, {"error": f"You already created this {payload.get('type') or 'model'} repo", "url": url})
        repo = Repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        self.state.repos[key] = repo
        self.state.commit(repo, "initial commit", {".gitattributes": StoredFile(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False)})
        self.reply(200, {"url": url, "name": repo_id})

    def validate_yaml(self, query, head):
        payload = json.loads(self.body() or b"{}")
        # The client sends the whole README; its metadata is the YAML between the first two `---` lines.
        front_matter = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", payload.get("content", ""), re.DOTALL)
        try:
            metadata = yaml.safe_load(front_matter.group(1)) if front_matter else None
            if metadata is not None and not isinstance(metadata, dict):
                raise yaml.YAMLError("metadata must be a mapping")
        except yaml.YAMLError as error:
            message = f"Invalid YAML in README.md metadata: {error}"
            return self.reply(400, {"error": message, "errors": [{"message": message}]})
        self.reply(200, {"errors": [], "warnings": []})

    def preupload(self, repo, rev, query, head, kind=None):
        payload = json.loads(self.body())
        repository = self.writable_repo(self.key(kind, repo))
        if repository is None:
            return
        current = repository.resolve(rev)
        files = []
        for entry in payload["files"]:
            lfs = entry["path"].endswith(LFS_SUFFIXES) or entry["size"] >= LFS_MIN_SIZE
            existing = current.files.get(entry["path"]) if current else None
            files.append({"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": existing.oid if existing is not None else None})  # fmt: skip
        self.reply(200, {"files": files, "commitOid": current.sha if current else None})

    def create_branch(self, repo, branch, query, head, kind=None):
        self.body()
        repository = self.writable_repo(self.key(kind, repo))
        if repository is None:
            return
        if branch in repository.branches:
            return self.error(409, None, f"Reference refs/heads/{branch} already exists")
        repository.branches[branch] = [repository.commits[-1]]
        self.reply(200, {})

    def lfs_batch(self, repo, query, head, kind=None):
        payload = json.loads(self.body())
        if self.writable_repo(self.key(kind, repo)) is None:
            return
        objects = []
        for item in payload["objects"]:
            entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.state.lfs_objects:  # objects the server has need no upload
                entry["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{item['oid']}"},
                    "verify": {"href": f"{self.endpoint}/lfs-verify/{item['oid']}"},
                }
            objects.append(entry)
        self.reply(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, oid, query, head):
        content = self.body()
        if hashlib.sha256(content).hexdigest() != oid:
            return self.error(400, None, "LFS object does not match its SHA-256")
        self.state.lfs_objects[oid] = content
        self.reply(200, {})

    def lfs_verify(self, oid, query, head):
        payload = json.loads(self.body() or b"{}")
        content = self.state.lfs_objects.get(oid)
        if content is None or len(content) != payload.get("size"):
            return self.error(404, None, f"LFS object {oid} was not uploaded")
        self.reply(200, {})

    def create_commit(self, repo, rev, query, head, kind=None):
        lines = [json.loads(line) for line in self.body().decode().splitlines() if line.strip()]
        repository = self.writable_repo(self.key(kind, repo))
        if repository is None:
            return
        parent = repository.resolve(rev)
        if parent is None or unquote(rev) not in repository.branches:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev} (commits go to a branch)")
        files = dict(parent.files)
        header = {}
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                content = self.state.lfs_objects.get(value["oid"])
                if content is None:
                    return self.error(422, None, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = StoredFile(content, True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
        commit = self.state.commit(repository, header.get("summary", ""), files, branch=unquote(rev))
        self.reply(200, {"commitUrl": f"{self.endpoint}/{repo}/commit/{commit.sha}", "commitOid": commit.sha, "success": True})

    def revision_info(self, repo, query, head, rev="main", kind=None):
        repository = self.readable_repo(self.key(kind, repo))
        if repository is None:
            return
        commit = repository.resolve(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        self.reply(200, {
            "id": repo, "modelId": repo, "sha": commit.sha, "private": repository.private, "tags": [], "downloads": 0,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
        })  # fmt: skip

    def tree(self, repo, rev, query, head, subpath=None, kind=None):
        repository = self.readable_repo(self.key(kind, repo))
        if repository is None:
            return
        commit = repository.resolve(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        prefix = f"{subpath.rstrip('/')}/" if subpath else ""
        entries = []
        for path, stored in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            entry = {"type": "file", "oid": git_blob_sha1(stored.content), "size": len(stored.content), "path": path}
            if stored.lfs:
                entry["lfs"] = {"oid": hashlib.sha256(stored.content).hexdigest(), "size": len(stored.content), "pointerSize": 134}
            entries.append(entry)
        self.reply(200, entries)

    def resolve(self, repo, rev, file, query, head, kind=None):
        repository = self.readable_repo(self.key(kind, repo), head)
        if repository is None:
            return
        commit = repository.resolve(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        stored = commit.files.get(file)
        if stored is None:
            return self.error(404, "EntryNotFound", f"{file} does not exist at revision {rev}", head)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{stored.oid}"'}
        if stored.lfs:
            headers |= {"X-Linked-Etag": f'"{stored.oid}"', "X-Linked-Size": str(len(stored.content))}
        self.reply(200, raw=stored.content, headers=headers, head=head)


class HubServer:
    """Runs the server on 127.0.0.1 in a thread: `with HubServer({"token": "user"}) as hub: hub.endpoint`."""

    def __init__(self, tokens: dict[str, str]):
        self.state = HubState(tokens)
        handler = type("Handler", (HubHandler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()

    def commits(self, repo_id: str) -> list[Commit]:
        return self.state.repos[repo_id].commits


if __name__ == "__main__":  # a server to try things by hand
    import sys

    with HubServer({"hf_local_token": "user"}) as hub:
        print(f"Hub on {hub.endpoint} (token hf_local_token)", file=sys.stderr)
        hub.thread.join()
