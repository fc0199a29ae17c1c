#!/usr/bin/env python3
"""A fake Hugging Face hub for the `lmcc pull` tests (standard library only).

Two HTTP/1.1 servers on 127.0.0.1: the hub (model API + resolve URLs) and a
"CDN" that serves LFS blobs, the way huggingface.co redirects large files to
another host. One-shot and persistent faults reproduce the failures a
downloader must survive. See README.md next to this file.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_LFS_MIN = 10 * 1024 * 1024  # git-lfs threshold the hub uses for big files
FIXED_DATE = "2024-01-01T00:00:00.000Z"  # fixed so every answer is reproducible
CHUNK = 4096


# ---------------------------------------------------------------- hashing

def git_blob_sha1(data):
    """git's object id of a blob: sha1(b"blob <len>\\0" + data)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256, size):
    """The git-lfs pointer text that git stores in place of an LFS file."""
    return ("version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{sha256}\nsize {size}\n").encode()


# ---------------------------------------------------------------- repos

class RepoFile:
    def __init__(self, path, data, lfs):
        self.path = path
        self.data = data
        self.size = len(data)
        self.blob_id = git_blob_sha1(data)
        self.lfs = lfs
        self.sha256 = hashlib.sha256(data).hexdigest() if lfs else None
        # For LFS files git stores the pointer, so their blob id and ETag on
        # the hub are the pointer's, while X-Linked-Etag is the sha256.
        self.pointer = lfs_pointer(self.sha256, self.size) if lfs else None
        self.pointer_id = git_blob_sha1(self.pointer) if lfs else None

    def lfs_info(self, oid_key):
        return {oid_key: self.sha256, "size": self.size, "pointerSize": len(self.pointer)}

    def tree_entry(self, commit, expand):
        """One entry of the tree / paths-info APIs."""
        entry = {"type": "file", "oid": self.pointer_id if self.lfs else self.blob_id,
                 "size": self.size, "path": self.path}
        if self.lfs:
            entry["lfs"] = self.lfs_info("oid")
        if expand:
            add_expand_fields(entry, commit)
        return entry

    def sibling(self, blobs):
        """One entry of model info's "siblings"."""
        entry = {"rfilename": self.path}
        if blobs:
            entry["size"] = self.size
            entry["blobId"] = self.pointer_id if self.lfs else self.blob_id
            if self.lfs:
                entry["lfs"] = self.lfs_info("sha256")
        return entry


def add_expand_fields(entry, commit):
    entry["lastCommit"] = {"id": commit, "title": "Upload folder", "date": FIXED_DATE}
    entry["securityFileStatus"] = {"status": "safe"}


def directory_entry(path, commit, expand):
    oid = hashlib.sha1(f"tree\0{commit}\0{path}".encode()).hexdigest()
    entry = {"type": "directory", "oid": oid, "size": 0, "path": path}
    if expand:
        add_expand_fields(entry, commit)
    return entry


def read_tree(root):
    """{repo-relative path with '/': bytes} of every file under root (not .git)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as f:
                files[rel] = f.read()
    return files


def parent_dirs(paths):
    """Every directory that holds one of paths, e.g. "a" and "a/b" for "a/b/c"."""
    dirs = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(dirs)


def commit_id(files):
    """Deterministic stand-in for a commit id: sha1 over the sorted paths and contents."""
    h = hashlib.sha1()
    for path in sorted(files):
        data = files[path]
        h.update(b"%s\0%d\0" % (path.encode(), len(data)))
        h.update(data)
    return h.hexdigest()


class Repo:
    def __init__(self, repo_id, root, lfs_min, gated):
        contents = read_tree(root)
        self.repo_id = repo_id
        self.gated = gated
        self.commit = commit_id(contents)
        self.files = {p: RepoFile(p, d, p.endswith(".safetensors") or len(d) >= lfs_min)
                      for p, d in sorted(contents.items())}
        self.dirs = parent_dirs(self.files)

    def knows_revision(self, rev):
        return rev in ("main", self.commit)

    def tree(self, prefix, recursive, expand):
        """Entries under prefix ('' = root), or None when prefix is no directory."""
        if prefix and prefix not in self.dirs:
            return None
        base = prefix + "/" if prefix else ""

        def wanted(path):
            return path.startswith(base) and (recursive or "/" not in path[len(base):])

        entries = [directory_entry(d, self.commit, expand) for d in self.dirs if wanted(d)]
        entries += [f.tree_entry(self.commit, expand) for p, f in self.files.items() if wanted(p)]
        return sorted(entries, key=lambda e: e["path"])

    def paths_info(self, paths, expand):
        out = []
        for path in paths:
            if path in self.files:
                out.append(self.files[path].tree_entry(self.commit, expand))
            elif path in self.dirs:
                out.append(directory_entry(path, self.commit, expand))
        return out

    def model_info(self, blobs):
        org = self.repo_id.split("/")[0]
        return {
            "_id": hashlib.sha1(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id, "modelId": self.repo_id, "author": org,
            "sha": self.commit, "lastModified": FIXED_DATE, "createdAt": FIXED_DATE,
            "private": False, "disabled": False,
            "gated": "manual" if self.gated else False,
            "downloads": 0, "likes": 0, "tags": [],
            "siblings": [f.sibling(blobs) for f in self.files.values()],
        }


# ---------------------------------------------------------------- faults

class Faults:
    """Fault state shared by every request thread.

    cut, 500 and 429 fire once; badsha and slow apply to every GET; gone
    (listed by the model API, EntryNotFound at resolve: a file deleted after
    the listing) and badetag (an ETag with a control character in it, which
    would name the blob file) to every resolve;
    fail-api counts down its N requests.
    """
    ONE_SHOT = ("cut", "500", "429")
    PERSISTENT = ("badsha", "slow", "gone", "badetag")

    def __init__(self, specs):
        self.lock = threading.Lock()
        self.pending = []      # [kind, file, arg] not yet fired (one-shot)
        self.persistent = []   # [kind, file, arg]
        self.api_failures = 0
        for spec in specs:
            self.add(spec)

    def add(self, spec):
        kind, _, rest = spec.partition(":")
        if kind == "fail-api":
            self.api_failures += int(rest)
            return
        if kind in ("429", "slow"):
            file, _, arg = rest.rpartition(":")
            arg = float(arg) if kind == "slow" else arg
        else:
            file, arg = rest, None
        if not file or kind not in self.ONE_SHOT + self.PERSISTENT:
            raise ValueError(f"bad --fault {spec!r}")
        (self.pending if kind in self.ONE_SHOT else self.persistent).append([kind, file, arg])

    def take(self, kind, paths):
        """Fire the first pending one-shot fault KIND on one of paths; (True, arg) or (False, None)."""
        with self.lock:
            for fault in self.pending:
                if fault[0] == kind and fault[1] in paths:
                    self.pending.remove(fault)
                    return True, fault[2]
        return False, None

    def persistent_arg(self, kind, paths):
        with self.lock:
            for k, file, arg in self.persistent:
                if k == kind and file in paths:
                    return True, arg
        return False, None

    def take_api_failure(self):
        with self.lock:
            if self.api_failures > 0:
                self.api_failures -= 1
                return True
        return False


# ---------------------------------------------------------------- shared state

class State:
    def __init__(self, repos, token, faults, log_path):
        self.repos = repos                       # repo_id -> Repo
        self.token = token
        self.faults = faults
        self.endpoint = self.cdn = None          # set once both ports are bound
        self.by_sha256 = {}                      # LFS sha256 -> [RepoFile]
        for repo in repos.values():
            for f in repo.files.values():
                if f.lfs:
                    self.by_sha256.setdefault(f.sha256, []).append(f)
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None

    def log(self, record):
        if not self.log_file:
            return
        with self.log_lock:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()


def parse_range(header, total):
    """(start, end inclusive) for `bytes=A-`, `bytes=A-B`, `bytes=-N`;
    None when there is no usable header (serve all); "unsatisfiable" past the end."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes="):].strip().partition("-")
    try:
        if first == "":                          # suffix: the last N bytes
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(total - n, 0), total - 1
        start = int(first)
        end = int(last) if last else total - 1
    except ValueError:
        return None
    if start >= total:
        return "unsatisfiable"
    if end < start:
        return None
    return start, min(end, total - 1)


# ---------------------------------------------------------------- handlers

class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection frees its thread after this
    server_name = "?"

    @property
    def state(self):
        return self.server.state

    def log_message(self, format, *args):  # keep stderr quiet
        pass

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    # One entry point per method: route, then log whatever happened.
    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        self.status = None
        self.fault = None
        url = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(url.query)
        try:
            self.body_in = self.read_request_body()
            self.route(method, url.path)
        except OSError:  # the client hung up (or timed out): drop the connection
            self.close_connection = True
        except ValueError:  # a malformed Content-Length or request body
            if self.status is None:
                self.send(400, b"Bad Request")
            self.close_connection = True
        finally:
            self.state.log({"server": self.server_name, "method": method, "path": url.path,
                            "query": url.query or None, "range": self.headers.get("Range"),
                            "auth": self.headers.get("Authorization"),
                            "status": self.status, "fault": self.fault})

    def read_request_body(self):
        # Read it even when unused, or the next request on the connection breaks.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def query_flag(self, name):
        return self.query.get(name, ["false"])[-1].lower() in ("1", "true")

    def send(self, status, body=b"", headers=(), content_type="text/plain; charset=utf-8",
             length=None):
        """Status, headers and (except for HEAD) the body."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def not_found(self):
        self.send(404, b"Not Found")

    def send_bytes(self, f, headers, etag):
        """Serve f's content honouring Range, with the faults on its bytes."""
        headers = list(headers) + [("Accept-Ranges", "bytes"), ("ETag", f'"{etag}"')]
        total = f.size
        rng = parse_range(self.headers.get("Range"), total)
        if rng == "unsatisfiable":
            self.send(416, b"", headers + [("Content-Range", f"bytes */{total}")])
            return
        start, end = rng if rng else (0, total - 1)
        status = 206 if rng else 200
        if rng:
            headers.append(("Content-Range", f"bytes {start}-{end}/{total}"))
        length = end - start + 1
        self.send(status, b"", headers, "application/octet-stream", length=length)
        if self.command == "GET" and length > 0:
            self.write_body(f, start, end + 1)

    def write_body(self, f, start, stop):
        paths = self.paths_of(f)
        faults = self.state.faults
        flip_at = None
        if faults.persistent_arg("badsha", paths)[0]:
            flip_at = f.size // 2  # a fixed file offset, so ranged re-reads agree
            self.fault = "badsha"
        slow, bps = faults.persistent_arg("slow", paths)
        if slow:
            self.fault = "slow"
        # A 1-byte probe (Range: bytes=0-0) has no middle to cut at: leave the fault armed.
        if stop - start >= 2 and faults.take("cut", paths)[0]:
            self.fault = "cut"
            stop = start + (stop - start) // 2
            self.close_connection = True
        # Throttled bodies go out in about four chunks a second, so even a
        # small file takes the time its rate says.
        step = max(1, min(CHUNK, int(bps // 4))) if slow else CHUNK
        view = memoryview(f.data)
        for pos in range(start, stop, step):
            chunk = bytes(view[pos:min(pos + step, stop)])
            if flip_at is not None and pos <= flip_at < pos + len(chunk):
                i = flip_at - pos
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if slow:  # wait first, so a body takes at least size / BPS seconds
                time.sleep(len(chunk) / bps)
            self.wfile.write(chunk)
            if slow:
                self.wfile.flush()
        self.wfile.flush()
        if self.fault == "cut":
            self.connection.shutdown(socket.SHUT_RDWR)  # the cut: no more bytes, ever


class HubHandler(BaseHandler):
    server_name = "hub"

    def paths_of(self, f):
        return (f.path,)

    def route(self, method, path):
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            self.api(method, parts[2] + "/" + parts[3], parts[4:])
        elif len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            self.resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        else:
            self.not_found()

    # -- auth and error answers, as huggingface_hub's hf_raise_for_status reads them

    def token_state(self):
        auth = self.headers.get("Authorization")
        if not auth:
            return "none"
        valid = self.state.token is not None and auth == f"Bearer {self.state.token}"
        return "valid" if valid else "invalid"

    def hub_error(self, status, code, message, headers=(), api=True):
        headers = list(headers) + [("X-Error-Code", code), ("X-Error-Message", message)]
        if api:
            self.send(status, json.dumps({"error": message}).encode(), headers, "application/json")
        else:
            self.send(status, message.encode(), headers)

    def repo_or_error(self, repo_id, api):
        repo = self.state.repos.get(repo_id)
        if repo is None:
            # Anonymous callers get 401, so private repos are not revealed.
            status = 404 if self.token_state() == "valid" else 401
            self.hub_error(status, "RepoNotFound", "Repository not found", api=api)
        return repo

    def revision_ok(self, repo, rev, api):
        if repo.knows_revision(rev):
            return True
        self.hub_error(404, "RevisionNotFound", f"Invalid rev id: {rev}", api=api)
        return False

    def send_json(self, obj):
        self.send(200, json.dumps(obj).encode(), content_type="application/json")

    # -- /api/models/ORG/NAME[/revision/REV | /tree/REV[/PATH] | /paths-info/REV]

    def api(self, method, repo_id, rest):
        if self.state.faults.take_api_failure():
            self.fault = "fail-api"
            self.send(503, json.dumps({"error": "Service Unavailable"}).encode(),
                      content_type="application/json")
            return
        repo = self.repo_or_error(repo_id, api=True)
        if repo is None:
            return
        what = rest[0] if rest else "revision"
        rev = rest[1] if len(rest) > 1 else "main"
        if method == "GET" and what == "revision" and len(rest) <= 2:
            if self.revision_ok(repo, rev, api=True):
                self.send_json(repo.model_info(self.query_flag("blobs")))
        elif method == "GET" and what == "tree" and len(rest) >= 2:
            if self.revision_ok(repo, rev, api=True):
                self.tree(repo, "/".join(rest[2:]).strip("/"))
        elif method == "POST" and what == "paths-info" and len(rest) == 2:
            if self.revision_ok(repo, rev, api=True):
                paths, expand = self.paths_info_request()
                self.send_json(repo.paths_info(paths, expand))
        else:
            self.not_found()

    def tree(self, repo, prefix):
        entries = repo.tree(prefix, self.query_flag("recursive"), self.query_flag("expand"))
        if entries is None:
            self.hub_error(404, "EntryNotFound", f"{prefix} does not exist on \"{repo.commit}\"")
        else:
            self.send_json(entries)  # one page, no Link header

    def paths_info_request(self):
        """paths and expand from a JSON or form-encoded paths-info body."""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            body = json.loads(self.body_in or b"{}")
            if not isinstance(body, dict):
                raise ValueError("paths-info body is not an object")
            paths = body.get("paths", [])
            expand = body.get("expand") in (True, "true", "1", 1)
        else:
            form = urllib.parse.parse_qs(self.body_in.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")
        return ([paths] if isinstance(paths, str) else paths), expand

    # -- /ORG/NAME/resolve/REV/PATH, as file_download.py get_hf_file_metadata reads it

    def resolve(self, repo_id, rev, path):
        repo = self.repo_or_error(repo_id, api=False)
        if repo is None or self.resolve_fault(path):
            return
        if not self.revision_ok(repo, rev, api=False):
            return
        commit = [("X-Repo-Commit", repo.commit)]
        if repo.gated and not self.gate_open(repo, commit):
            return
        f = repo.files.get(path)
        if f is not None and self.state.faults.persistent_arg("gone", (path,))[0]:
            self.fault, f = "gone", None
        if f is None:
            self.hub_error(404, "EntryNotFound", "Entry not found", commit + [("Accept-Ranges", "bytes")],
                           api=False)
        elif f.lfs:
            self.redirect_to_cdn(f, commit)
        else:
            bad = self.state.faults.persistent_arg("badetag", (path,))[0]
            if bad:
                self.fault = "badetag"
            self.send_bytes(f, commit, f.blob_id[:8] + "\x01" + f.blob_id[8:] if bad else f.blob_id)

    def resolve_fault(self, path):
        fired, _ = self.state.faults.take("500", (path,))
        if fired:
            self.fault = "500"
            self.send(500, b"Internal Server Error")
            return True
        fired, seconds = self.state.faults.take("429", (path,))
        if fired:
            self.fault = "429"
            self.send(429, b"Too Many Requests", [("Retry-After", seconds)])
            return True
        return False

    def gate_open(self, repo, headers):
        state = self.token_state()
        if state == "valid":
            return True
        if state == "none":
            self.hub_error(401, "GatedRepo",
                           f"Access to model {repo.repo_id} is restricted. You must have access to it "
                           "and be authenticated to access it. Please log in.", headers, api=False)
        else:
            self.hub_error(403, "GatedRepo",
                           f"Access to model {repo.repo_id} is restricted and you are not in the "
                           f"authorized list. Visit {self.state.endpoint}/{repo.repo_id} to ask for access.",
                           headers, api=False)
        return False

    def redirect_to_cdn(self, f, headers):
        # Like huggingface.co: the hub answers with metadata only and sends the
        # bytes from another origin, so Authorization must not follow the redirect.
        location = f"{self.state.cdn}/cdn/{f.sha256}?token=signed-xyz"
        self.send(302, b"", headers + [
            ("Location", location), ("Accept-Ranges", "bytes"),
            ("X-Linked-Etag", f'"{f.sha256}"'), ("X-Linked-Size", str(f.size)),
            ("ETag", f'"{f.pointer_id}"')], length=0)


class CdnHandler(BaseHandler):
    server_name = "cdn"

    def paths_of(self, f):
        return tuple(g.path for g in self.state.by_sha256[f.sha256])

    def route(self, method, path):
        parts = path.split("/")
        files = self.state.by_sha256.get(parts[2]) if len(parts) == 3 and parts[1] == "cdn" else None
        if method not in ("GET", "HEAD") or not files:
            self.not_found()
            return
        f = files[0]
        self.send_bytes(f, [], f.sha256)


# ---------------------------------------------------------------- main

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # parallel downloads open many connections at once

    def __init__(self, handler, state):
        super().__init__(("127.0.0.1", 0), handler)
        self.state = state

    def handle_error(self, request, client_address):
        # A client that hangs up is part of the tests, not a server error.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def write_port_file(path, state):
    info = {"endpoint": state.endpoint, "cdn": state.cdn, "pid": os.getpid(),
            "commits": {rid: r.commit for rid, r in state.repos.items()}}
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f)
        f.write("\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Hugging Face hub for lmcc pull tests.")
    p.add_argument("--repo", action="append", default=[], metavar="ORG/NAME=DIR", required=True)
    p.add_argument("--gated", action="append", default=[], metavar="ORG/NAME")
    p.add_argument("--token", help="the one valid token (Authorization: Bearer TOKEN)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND:FILE[:ARG]")
    p.add_argument("--lfs-min", type=int, default=DEFAULT_LFS_MIN, metavar="BYTES")
    p.add_argument("--port-file", required=True, metavar="PATH")
    p.add_argument("--log", metavar="PATH")
    args = p.parse_args(argv)
    for spec in args.repo:
        if "=" not in spec or spec.count("/", 0, spec.index("=")) != 1:
            p.error(f"--repo wants ORG/NAME=DIR, got {spec!r}")
    return args


def main(argv):
    args = parse_args(argv)
    repos = {}
    for spec in args.repo:
        repo_id, root = spec.split("=", 1)
        repos[repo_id] = Repo(repo_id, root, args.lfs_min, repo_id in args.gated)
    try:
        faults = Faults(args.fault)
    except ValueError as e:
        sys.exit(f"fake_hub.py: {e}")
    state = State(repos, args.token, faults, args.log)

    hub, cdn = Server(HubHandler, state), Server(CdnHandler, state)
    state.endpoint = f"http://127.0.0.1:{hub.server_address[1]}"
    state.cdn = f"http://127.0.0.1:{cdn.server_address[1]}"
    for server in (hub, cdn):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    write_port_file(args.port_file, state)
    while not stop.wait(0.5):
        pass
    for server in (hub, cdn):
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
