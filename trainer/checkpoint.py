"""Orbax checkpoints of a training run: model/optimizer state, the Grain iterator state and run metadata.

Layout: RUN/checkpoints/<step>/{state, data, meta}
  state  the train-state pytree (params, optimizer state, step), Orbax StandardSave (tensorstore; gs:// works)
  data   the data iterator state, one JSON file per host (Grain's own Orbax handler:
         process_<i>-of-<n>.json), so every host resumes its own stream
  meta   JSON: step, mixture hash/name/stage, the resolved TrainConfig, wall-clock time

Saves are asynchronous where Orbax supports it (arrays are written by a background thread after a device to
host copy); `wait()` blocks until the last save is durable. Orbax keeps the newest `max_to_keep` steps.

A run resumes only on the mixture it started with: the mixture hash covers everything that decides which
tokens are read (sources, weights, document counts, seed, seq_len, tokenizer, total tokens, schedule) but not
file locations or the command line, so data copied to gs:// still resumes. `force=True` overrides the check.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from tokens import paths


class ResumeError(RuntimeError):
    """A checkpoint that must not be resumed from here (different mixture, missing pieces)."""


class ResumeTimeout(ResumeError):
    """A restore that did not finish in time (a hung storage layer); the message names the step."""


# Seconds one checkpoint restore may take before the run stops with an error instead of hanging
# (a 2.8B model's state restores in well under a minute from local disk or GCS).
RESTORE_TIMEOUT_S = float(os.environ.get("TRAINER_RESTORE_TIMEOUT_S", "900"))


def _with_timeout(fn, timeout_s: float, what: str):
    """fn() in a daemon thread; ResumeTimeout after `timeout_s` (the thread is abandoned, never joined)."""
    import threading

    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, name="checkpoint-restore", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise ResumeTimeout(f"{what} did not finish in {timeout_s:.0f} s (TRAINER_RESTORE_TIMEOUT_S): the storage "
                            "layer hangs on it; the checkpoint is probably corrupt. Move that step's folder away "
                            "to resume from the one before")
    if "error" in box:
        raise box["error"]
    return box["value"]


class CheckpointWriteError(RuntimeError):
    """A save that did not complete (full disk, lost bucket): nothing was published for that step."""


def check_resume(meta: dict, expected_hash: str, force: bool = False) -> None:
    """Refuse (ResumeError) a checkpoint written for another mixture unless `force`."""
    found = meta.get("mixture_hash")
    if found != expected_hash and not force:
        raise ResumeError(
            f"checkpoint at step {meta.get('step')} was written for mixture {meta.get('mixture_name')!r} "
            f"(hash {str(found)[:12]}...), this run's mixture hashes to {expected_hash[:12]}...: resuming would "
            f"train on a different data stream. Use a new --workdir, or --force to resume anyway.")


class Checkpointer:
    """Orbax CheckpointManager over RUN/checkpoints with items state / data / meta."""

    def __init__(self, workdir: str, *, max_to_keep: int = 3, async_save: bool = True,
                 read_only: bool = False):
        import grain.python as gp
        import orbax.checkpoint as ocp

        self._ocp, self._gp = ocp, gp
        self._started: int | None = None   # the last step whose save was started (errors name it)
        if "://" not in workdir:     # Orbax's tensorstore layer refuses relative local paths
            workdir = os.path.abspath(workdir)
        self.directory = paths.join(workdir, "checkpoints")
        # A save killed or failed midway (SIGKILL, full disk) leaves Orbax's <step>.orbax-checkpoint-tmp-*
        # folder, never a finalized <step>: the latest complete step is resumed, and the leftover is removed
        # when the next run opens the directory for writing.
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=not read_only,
            read_only=read_only, cleanup_tmp_directories=not read_only)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "data": gp.PyGrainCheckpointHandler(),
                           "meta": ocp.JsonCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: Any, data_iterator: Any, meta: dict) -> bool:
        """Start saving `step` (asynchronous); returns whether a save was started."""
        ocp, gp = self._ocp, self._gp
        meta = dict(meta, step=int(step), saved_at=time.time())
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if data_iterator is not None:
            items["data"] = gp.PyGrainCheckpointSave(data_iterator)
        what = f"step {step}" if self._started is None else \
            f"step {step} (or the asynchronous save of step {self._started} before it)"
        with self._writing(what):   # Orbax raises a failed asynchronous save at the next save or wait
            started = self._manager.save(int(step), args=ocp.args.Composite(**items), force=True)
        self._started = int(step) if started else self._started
        return started

    @contextlib.contextmanager
    def _writing(self, what: str):
        """Orbax reports a failed write (tensorstore RESOURCE_EXHAUSTED, OSError) from its own threads, in
        several tracebacks: re-raise it once, naming the checkpoint folder and the latest complete step."""
        try:
            yield
        except Exception as e:  # noqa: BLE001 - any failure of the storage layer
            lines = str(e).strip().splitlines() or [type(e).__name__]
            raise CheckpointWriteError(
                f"cannot write checkpoint {what} under {self.directory}: {type(e).__name__}: {lines[0]} "
                f"(nothing published for it; the latest complete checkpoint is step {self._complete_step()}, "
                "which a rerun resumes from)") from e

    def _complete_step(self):
        try:
            self._manager.reload()   # from disk: a step whose save failed is not in it
            return self._manager.latest_step()
        except Exception:  # noqa: BLE001 - best effort inside an error message
            return "unknown"

    def read_meta(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        if step is None:
            raise ResumeError(f"no checkpoint under {self.directory}")
        ocp = self._ocp
        return dict(self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])

    def restore(self, abstract_state: Any, data_iterator: Any = None, step: int | None = None) -> tuple[Any, dict]:
        """Restore (state, meta) at `step` (latest by default); sets `data_iterator`'s state in place.

        `abstract_state`: a pytree of jax.ShapeDtypeStruct with shardings (or concrete arrays) giving the
        structure, dtypes and placement to restore into."""
        ocp, gp = self._ocp, self._gp
        step = self.latest_step() if step is None else step
        if step is None:
            raise ResumeError(f"no checkpoint under {self.directory}")
        items = {"state": ocp.args.StandardRestore(abstract_state), "meta": ocp.args.JsonRestore()}
        if data_iterator is not None:
            items["data"] = gp.PyGrainCheckpointRestore(data_iterator)
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        return restored["state"], dict(restored["meta"])

    def restore_verified(self, abstract_state: Any, data_iterator: Any, say, timeout_s: float = RESTORE_TIMEOUT_S
                         ) -> tuple[Any, dict]:
        """Restore the newest checkpoint that restores and matches its state digest (trainer/guards.py),
        falling back step by step and saying why; ResumeError when none does. Each restore is given
        `timeout_s` seconds: a storage layer that hangs becomes an error naming the step, never a hang."""
        from trainer.guards import DIGEST_KEY, digest_mismatch

        steps = sorted(self.all_steps(), reverse=True)
        failures = []
        for step in steps:
            try:
                state, meta = _with_timeout(lambda: self.restore(abstract_state, data_iterator, step), timeout_s,
                                            f"restoring checkpoint step {step} under {self.directory}")
                problem = digest_mismatch(state, meta.get(DIGEST_KEY))
            except ResumeTimeout:
                raise
            except Exception as e:  # noqa: BLE001 - Orbax/tensorstore raise many types for corrupt data
                problem = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            if problem is None:
                if failures:
                    say(f"warning: resumed from checkpoint step {step}, not the newest: " + "; ".join(failures))
                return state, meta
            failures.append(f"step {step} is corrupt ({problem})")
            say(f"warning: checkpoint step {step} under {self.directory} is corrupt ({problem}); "
                "trying the previous one")
        raise ResumeError(f"no usable checkpoint under {self.directory}: " + "; ".join(failures)
                          + ". Move the folder away to start over")

    def wait(self) -> None:
        with self._writing(f"step {self._started}"):
            self._manager.wait_until_finished()

    def close(self) -> None:
        self.wait()
        self._manager.close()


def load_weights_from(previous_workdir: str, abstract_state: Any, *, with_optimizer: bool = False,
                      step: int | None = None) -> tuple[Any, dict]:
    """Restore the previous stage's latest state into `abstract_state`'s structure (continued/cooldown stages).

    Returns (state, meta). The caller keeps the parameters (and, when `with_optimizer`, the optimizer state)
    and starts its own step counter and data stream: the previous run's data state is not read."""
    ckpt = Checkpointer(previous_workdir, read_only=True)
    try:
        try:
            state, meta = ckpt.restore(abstract_state, None, step)
        except ResumeError:
            raise
        except Exception as e:
            raise ResumeError(f"cannot load weights from {ckpt.directory} (step {step or ckpt.latest_step()}): "
                              f"{type(e).__name__}: {e}. The model config must match the previous stage's.") from e
    finally:
        ckpt.close()
    meta = dict(meta, with_optimizer=with_optimizer)
    return state, meta
