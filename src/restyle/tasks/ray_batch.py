"""A batch spread over a Ray cluster: one actor per GPU (or CPU slot), each with its own networks.

Ray is imported here only, and only when a :class:`RayExecutor` runs (``pip install
"restyle[ray]"``). The driver (the process that runs ``restyle batch``) plans the rows, reads the
input files and ships them with each row (paintings once, through Ray's object store), so the
workers need restyle installed but no shared file system. Each actor keeps its own
:class:`~restyle.net.cache.NetworkCache`: the network is built once per actor and each
painting's targets computed once per size. An actor paints a row and returns it as PNG bytes;
the driver writes it (atomically, once, with the row's metadata; see
:class:`~restyle.tasks.batch.BatchRun`).

Each actor has one row at a time, so a stop request waits for at most one image per actor. An
actor that dies (killed, out of host memory, a lost node) is restarted by Ray (up to
``max_restarts`` times), and the row it had goes back to the front of the queue for the next
free actor; a row that has killed its worker ``attempts`` times is reported as failed.

For a cluster started here (``address="local"``), Ray's settings are made safe for a laptop:
no dashboard, usage statistics off (``RAY_USAGE_STATS_ENABLED=0`` unless set), a small object
store (:data:`LOCAL_OBJECT_STORE_MB`), Ray's own logging quiet, and Ray's token authentication
left as Ray sets it (on by default for local clusters since Ray 2.5x; the token lives in
``~/.ray/auth_token``). See docs/scale.md for the ports it listens on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import RestyleError
from ..net.cache import Builder, NetworkCache
from .batch import (
    Outcome,
    Row,
    Source,
    encode_png,
    error_text,
    execute_row,
    read_source,
    worker_name,
)

__all__ = ["LOCAL_OBJECT_STORE_MB", "RayExecutor", "connect"]

#: Object store of a cluster started by ``--ray local`` (MiB): a row ships a photo and returns
#: a PNG, a few MB at most, and at most one row per actor is in flight.
LOCAL_OBJECT_STORE_MB = 256
#: Ray's own lower limit for the object store (MiB).
MIN_OBJECT_STORE_MB = 75
#: How long a ``host:port`` address may take to accept a connection before it is given up on.
CONNECT_TIMEOUT_S = 5.0


def _ray() -> Any:
    """Import Ray, with usage statistics off unless the user set them."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError:
        raise RestyleError(
            "--ray needs Ray, which is not installed: pip install 'restyle[ray]'"
        ) from None
    return ray


def _probe(address: str) -> None:
    """Fail fast, in one line, when a ``host:port`` (or ``ray://host:port``) does not answer."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise RestyleError(
            f"not a Ray address: {address!r} (use HOST:PORT, ray://HOST:PORT, auto or local)"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise RestyleError(f"the Ray cluster at {address} does not answer ({why})") from None


def connect(
    address: str = "local", *, cpus: int | None = None, object_store_mb: int | None = None
) -> bool:
    """Connect this process to a Ray cluster, or start one on this machine.

    Args:
        address: ``local`` (start a cluster here, or use the one this process already has),
            ``auto`` (the cluster this machine belongs to: ``ray start`` was run here, or
            ``RAY_ADDRESS`` is set), or ``HOST:PORT`` / ``ray://HOST:PORT`` of a head node.
        cpus: CPU slots of a local cluster (default: this machine's CPUs).
        object_store_mb: object store of a local cluster in MiB (default
            :data:`LOCAL_OBJECT_STORE_MB`).

    Returns:
        Whether this call started or joined the cluster (and so should :func:`ray.shutdown`
        it); False when this process was connected already.

    Raises:
        RestyleError: if Ray is missing, the address does not answer or is not a Ray cluster.
    """
    ray = _ray()
    if ray.is_initialized():
        return False
    store = object_store_mb if object_store_mb is not None else LOCAL_OBJECT_STORE_MB
    if store < MIN_OBJECT_STORE_MB:
        raise RestyleError(f"--object-store-mb must be at least {MIN_OBJECT_STORE_MB}, got {store}")
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == "local":
        kwargs: dict[str, Any] = {
            "address": "local",
            "num_cpus": cpus or os.cpu_count() or 1,
            "include_dashboard": False,
            "object_store_memory": store * 1024 * 1024,
        }
    else:
        if address != "auto":
            _probe(address)
        kwargs = {"address": address}
    try:
        ray.init(**kwargs, **quiet)
    except Exception as e:
        raise RestyleError(
            f"cannot use the Ray cluster at {address}: {error_text(e).split('. ')[0]}"
        ) from None
    return True


class BatchWorker:
    """A Ray actor: paints rows with its own network cache (see :mod:`restyle.tasks.batch`).

    Args:
        builder: builds the feature network (default VGG19; tests pass a tiny one). It must be
            importable where the actor runs: a top-level function.
        threads: CPU threads for torch in this actor (None: torch's default).
    """

    def __init__(self, builder: Builder | None = None, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.networks = NetworkCache(builder)

    def ready(self) -> str:
        """Where this actor runs (``host:pid``); answers once the actor is up."""
        return worker_name()

    def render(self, row: Row, content: Source, *styles: Source) -> dict[str, Any]:
        """Paint ``row`` from the shipped inputs; the picture comes back as PNG bytes."""
        o = execute_row(row, self.networks, content=content, styles=list(styles))
        return {
            "png": None if o.image is None else encode_png(o.image),
            "error": o.error,
            "seconds": o.seconds,
            "steps": o.steps,
            "step_seconds": o.step_seconds,
            "optimise_seconds": o.optimise_seconds,
            "worker": o.worker,
        }


class RayExecutor:
    """Runs a batch's rows on the actors of a Ray cluster (see the module's notes).

    Args:
        address: ``local``, ``auto`` or a head node's address (see :func:`connect`).
        workers: actors to start (default: one per GPU in the cluster, else one per CPU slot).
        object_store_mb: object store of a local cluster (MiB).
        builder: the network builder handed to each actor (default VGG19).
        max_restarts: how often Ray restarts an actor that died.
        attempts: how often a row is started before a worker death fails it.
    """

    def __init__(
        self,
        address: str = "local",
        *,
        workers: int | None = None,
        object_store_mb: int | None = None,
        builder: Builder | None = None,
        max_restarts: int = 3,
        attempts: int = 3,
    ) -> None:
        if workers is not None and workers < 1:
            raise RestyleError(f"--workers must be at least 1, got {workers}")
        self.address = address
        self.workers = workers
        self.object_store_mb = object_store_mb
        self.builder = builder
        self.max_restarts = max_restarts
        self.attempts = attempts
        self.name = f"ray:{address}"

    def _actors(self, ray: Any) -> list[Any]:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        n = self.workers or gpus or cpus
        threads = max(1, cpus // n)
        options: dict[str, Any] = {"max_restarts": self.max_restarts, "max_task_retries": 0}
        if gpus:
            options.update(num_gpus=1, num_cpus=1)
        else:
            options.update(num_cpus=threads)
        self.name = f"ray:{self.address} ({n} {'GPU' if gpus else 'CPU'} workers)"
        actor = ray.remote(BatchWorker).options(**options)
        return [actor.remote(self.builder, threads) for _ in range(n)]

    def run(self, rows: Sequence[Row], stop: Callable[[], bool]) -> Iterator[Outcome]:
        """Run ``rows`` on the cluster; outcomes come as rows finish. No new row starts once
        ``stop()`` is true; the rows under way finish first."""
        ray = _ray()
        cpus = max(os.cpu_count() or 1, self.workers or 0)
        started = connect(self.address, cpus=cpus, object_store_mb=self.object_store_mb)
        actors: list[Any] = []
        try:
            actors = self._actors(ray)
            yield from self._schedule(ray, actors, rows, stop)
        finally:
            for a in actors:
                with contextlib.suppress(Exception):  # already gone with its node
                    ray.kill(a, no_restart=True)
            if started:
                ray.shutdown()

    def _schedule(
        self, ray: Any, actors: list[Any], rows: Sequence[Row], stop: Callable[[], bool]
    ) -> Iterator[Outcome]:
        """Hand each free actor the next row. When an actor dies, the row it had goes back to
        the front of the queue (up to ``attempts`` starts), and the actor gets no row until it
        answers again: Ray restarts it up to ``max_restarts`` times, then it is dead for good."""
        from ray.exceptions import (  # type: ignore[import-not-found]
            ActorUnavailableError,
            RayActorError,
        )

        paintings: dict[str, Any] = {}  # path -> ObjectRef of its bytes, or a built-in name
        idle = deque(range(len(actors)))
        queue = deque(rows)
        tries: dict[int, int] = {}
        pending: dict[Any, tuple[Row, int, float]] = {}  # a row under way on an actor
        probes: dict[Any, int] = {}  # an actor that Ray is restarting

        def probe(which: int, *, wait: float = 0.0) -> None:
            if wait:
                time.sleep(wait)  # rare: only while Ray restarts an actor
            probes[actors[which].ready.remote()] = which

        while queue or pending:
            while idle and queue and not stop():
                row = queue.popleft()
                try:
                    content = read_source(row.content, style=False)
                    styles = [self._painting(ray, paintings, s) for s in row.styles]
                except RestyleError as e:
                    yield Outcome(row, None, str(e), worker="driver")
                    continue
                which = idle.popleft()
                tries[row.index] = tries.get(row.index, 0) + 1
                ref = actors[which].render.remote(row, content, *styles)
                pending[ref] = (row, which, time.perf_counter())
            if not pending and (stop() or not queue or not probes):
                if queue and not stop():
                    for row in queue:
                        yield Outcome(row, None, "every worker died", worker="driver")
                return
            ready, _ = ray.wait([*pending, *probes], num_returns=1)
            for ref in ready:
                if ref in probes:
                    which = probes.pop(ref)
                    try:
                        ray.get(ref)
                        idle.append(which)  # restarted
                    except ActorUnavailableError:
                        probe(which, wait=0.25)  # still restarting
                    except RayActorError:
                        pass  # dead for good (max_restarts used up): no more rows for it
                    continue
                row, which, sent = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError as e:  # the actor died under the row
                    probe(which)
                    if tries[row.index] < self.attempts:
                        queue.appendleft(row)
                        continue
                    why = error_text(e).split(". ")[0]
                    msg = f"the worker died {tries[row.index]} times on this row ({why})"
                    yield Outcome(
                        row, None, msg, time.perf_counter() - sent, attempts=tries[row.index]
                    )
                    continue
                except Exception as e:  # a task error: execute_row catches the row's own
                    idle.append(which)
                    yield Outcome(row, None, error_text(e), attempts=tries[row.index])
                    continue
                idle.append(which)
                yield self._outcome(row, result, tries[row.index])

    @staticmethod
    def _painting(ray: Any, cache: dict[str, Any], source: str) -> Any:
        """A painting as shipped: its bytes put in the object store once, or its name."""
        if source not in cache:
            data = read_source(source, style=True)
            cache[source] = data if isinstance(data, str) else ray.put(data)
        return cache[source]

    @staticmethod
    def _outcome(row: Row, result: dict[str, Any], attempts: int) -> Outcome:
        image = None
        error = result.get("error")
        png = result.get("png")
        if png is not None:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(png)) as im:
                image = im.convert("RGB")
        return Outcome(
            row, image, error, float(result["seconds"]), int(result["steps"]),
            float(result["step_seconds"]), str(result["worker"]), attempts,
            float(result["optimise_seconds"]),
        )  # fmt: skip
