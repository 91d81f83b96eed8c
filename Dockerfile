# memrepro as an image: the hashed lock, the project and Snakemake on a CUDA 13.0 runtime.
# Build and run: see docs/container.md. `docker run --gpus all IMAGE` runs
# `snakemake --cores all figures`; `docker run --gpus all IMAGE snakemake ...` runs what you give.

# The base: NVIDIA's CUDA 13.0 runtime on Ubuntu 24.04, pinned by digest. torch 2.14.1 in
# requirements.lock is the CUDA 13.0 build and brings its own cuBLAS/cuDNN/NCCL wheels; the base
# brings the CUDA 13.0 user space and the NVIDIA_* variables the NVIDIA Container Toolkit reads.
# A build argument only so that the offline test (tests/test_container.py) can substitute a base.
ARG BASE=nvidia/cuda:13.0.1-runtime-ubuntu24.04@sha256:c3fde347d52d578c84fd644bc177bc7ec333feaf11550d990da4084d7612e4c7

# Where Python 3.11 comes from (the lock is for 3.11; Ubuntu 24.04 has only 3.12 and the CUDA
# images have no Python at all):
#   standalone  (default) a python-build-standalone CPython, the relocatable build uv installs,
#               fetched by URL and checked against its sha256 before it is unpacked to /opt/python;
#               no apt, no PPA, nothing that drifts between two builds.
#   system      the base already has /usr/bin/python3.11 (the test's Debian 12 base, built offline).
ARG PYTHON_SOURCE=standalone

FROM ${BASE} AS python-download
# CPython 3.11.18 from python-build-standalone release 20261110, x86_64 glibc. PYTHON_SHA256 is the
# checksum uv 0.13.9 (on PyPI) records for this very file; change all three together.
ARG PYTHON_VERSION=3.11.18
ARG PBS_RELEASE=20261110
ARG PYTHON_SHA256=3288c54cea3db350052019b3f8b558dd8a3da8afa6fda573f5fd2bcb37635b4a
ADD https://github.com/astral-sh/python-build-standalone/releases/download/${PBS_RELEASE}/cpython-${PYTHON_VERSION}%2B${PBS_RELEASE}-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz /tmp/python.tar.gz
RUN printf '%s  %s\n' "${PYTHON_SHA256}" /tmp/python.tar.gz > /tmp/python.sha256 \
    && sha256sum -c /tmp/python.sha256 \
    && mkdir -p /opt/python \
    && tar -xzf /tmp/python.tar.gz -C /opt/python --strip-components=1 \
    && rm /tmp/python.tar.gz /tmp/python.sha256

# Only the unpacked interpreter goes on: the archive stays behind in the stage above.
FROM ${BASE} AS python-standalone
COPY --from=python-download /opt/python /opt/python
ENV PATH=/opt/python/bin:${PATH}

FROM ${BASE} AS python-system

# (a stage chosen by PYTHON_SOURCE, not an image: nothing to tag)
# hadolint ignore=DL3006
FROM python-${PYTHON_SOURCE}

# The base image reference, with its digest (the default pins one; a substituted base may not),
# for the provenance record of every figure and run.json (memrepro.provenance): redeclared here,
# as an ARG before the first FROM is not seen inside a stage.
ARG BASE
ENV MEMREPRO_IMAGE_BASE=${BASE}

LABEL org.opencontainers.image.title="memrepro" \
      org.opencontainers.image.description="Every figure of four papers on memorizing noisy labels"

# A non-root user. USER_UID/USER_GID default to 1000, the first user on most Linux hosts, so that
# what it writes to a bind mount is yours; otherwise build with --build-arg USER_UID=$(id -u)
# --build-arg USER_GID=$(id -g). Ubuntu 24.04 images ship a user `ubuntu` with uid 1000: it goes.
ARG USER_UID=1000
ARG USER_GID=1000
ENV HOME=/home/memrepro
RUN if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && groupadd --gid "${USER_GID}" memrepro \
    && useradd --no-log-init --uid "${USER_UID}" --gid "${USER_GID}" --create-home \
        --shell /bin/bash memrepro

# Offline builds only (the test): --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels,
# with the wheels of `pip download --require-hashes -r requirements.lock` mounted at /wheels
# (podman build -v DIR:/wheels:ro). pip reads both from the environment; build arguments do not
# stay in the image. The defaults change nothing.
ARG PIP_NO_INDEX=0
ARG PIP_FIND_LINKS=

# The environment: every package and every hash from requirements.lock, in a virtual environment
# owned by root (the user can run it, not change it). Two locked packages are sdists only
# (antlr4-python3-runtime, connection-pool): their archives are hash-checked like the wheels,
# then built by pip (the pip of ensurepip; with setuptools from the index, isolated, if it asks).
ENV VIRTUAL_ENV=/opt/venv
ENV PATH=${VIRTUAL_ENV}/bin:${PATH}
COPY requirements.lock /tmp/requirements.lock
RUN python3.11 -m venv "${VIRTUAL_ENV}" \
    && python -m pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# The project: installed without dependencies (the lock has them all) and without build isolation
# (setuptools comes from the lock). The code stays owned by root; the user owns the directory and
# the four it writes (made here, so that volumes mounted on them start out owned by the user).
WORKDIR /home/memrepro/memrepro
COPY . .
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-deps \
        --no-build-isolation . \
    && rm -rf build src/*.egg-info \
    && mkdir -p results resources logs .snakemake \
    && chown memrepro:memrepro . results resources logs .snakemake

# Headless plots; the determinism variables:
#   PYTHONHASHSEED=0                   str hashes, hence set/dict iteration order, fixed
#   CUBLAS_WORKSPACE_CONFIG=:4096:8    lets cuBLAS run deterministically (what PyTorch asks for
#                                      under torch.use_deterministic_algorithms on CUDA >= 10.2)
#   CUDA_DEVICE_ORDER=PCI_BUS_ID       GPU indices (CUDA_VISIBLE_DEVICES, run.json) are the ones
#                                      nvidia-smi shows, not the fastest-first default order
# PYTHONDONTWRITEBYTECODE: the code is read-only to the user; PYTHONUNBUFFERED: logs as they come.
ENV MPLBACKEND=Agg \
    PYTHONHASHSEED=0 \
    CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    CUDA_DEVICE_ORDER=PCI_BUS_ID \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER ${USER_UID}:${USER_GID}
# Fails the build if the environment is incomplete; builds matplotlib's font cache once.
RUN python -c "import matplotlib.pyplot, memrepro, snakemake, torch; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

# No entrypoint (the CUDA image's banner script is dropped): the command is the whole command line,
# so `docker run IMAGE` runs the figures and `docker run IMAGE snakemake -n` or `... bash` work.
ENTRYPOINT []
CMD ["snakemake", "--cores", "all", "figures"]
