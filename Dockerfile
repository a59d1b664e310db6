# Custom Dataflow SDK container for the curate / train_tokenizer / tokenize jobs, and
# (second stage) the trainer image for TPU v5e VMs.
#
#   docker build --target dataflow -t $REGION-docker.pkg.dev/$PROJECT/images/code-mixtures:0.1.0 .
#   docker build --target trainer  -t $REGION-docker.pkg.dev/$PROJECT/images/code-mixtures-trainer:0.1.0 .
#
# The base tag must equal the apache-beam version pinned in setup.py (tests/test_dockerfile.py checks it):
# Dataflow refuses workers whose SDK differs from the launcher's.

FROM apache/beam_python3.11_sdk:2.77.0 AS dataflow
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/code-mixtures
# Dependencies first (cached layer), then the project itself, installed from setup.py.
COPY setup.py README.md ./
COPY sandbox/ sandbox/
COPY tokens/ tokens/
COPY pipelines/ pipelines/
COPY mixer/ mixer/
COPY trainer/ trainer/
# libseccomp2: the verification sandbox compiles its seccomp filter with it (sandbox/seccomp.py).
RUN apt-get update && apt-get install -y --no-install-recommends libseccomp2 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir . && python -c "import pipelines.curate, fasttext, sentencepiece, array_record" \
    && python -c "from sandbox import seccomp; seccomp.filter_bpf(True)"
RUN groupadd --gid 1000 beam && useradd --uid 1000 --gid beam --create-home beam \
    && chown -R beam:beam /opt/code-mixtures
# Workers, and the synthetic verification sandbox they start, run as this non-root user (SECURITY.md:
# the sandbox then uses a user namespace where the kernel allows one). Check a worker kernel with
# `docker run --rm IMAGE python -m sandbox`.
USER beam
# The Beam SDK harness is the entrypoint inherited from the base image (/opt/apache/beam/boot).

FROM python:3.11-slim AS trainer
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/code-mixtures
COPY setup.py README.md ./
COPY sandbox/ sandbox/
COPY tokens/ tokens/
COPY pipelines/ pipelines/
COPY mixer/ mixer/
COPY trainer/ trainer/
# On TPU VMs, jax[tpu] brings libtpu; on CPU this image still runs the tiny config.
RUN pip install --no-cache-dir ".[train]" "jax[tpu]" \
        -f https://storage.googleapis.com/jax-releases/libtpu_releases.html
RUN groupadd --gid 1000 train && useradd --uid 1000 --gid train --create-home train \
    && chown -R train:train /opt/code-mixtures
USER train
ENTRYPOINT ["python", "-m", "trainer"]
