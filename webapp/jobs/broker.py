"""The job queue as the web side sees it: is it reachable, publish a job id, and which job
ids have a message waiting in it. Messages carry the job id as their task id, so a message
and its job are the same name on both sides.

Kombu's Redis transport keeps a queue as a list under the queue's name (plus one list per
priority step), and the messages a worker holds but has not acknowledged in the hash
`unacked`, with the time each was taken in the sorted set `unacked_index`. A held message is
not proof that its job will run (the worker may die holding it), so `waiting_job_ids` counts
one only while it is younger than `held_for` seconds: long enough for a live worker to claim
its job (the claim moves the job out of "queued"), short enough that a dead worker's job is
published again soon. Without that grace, a sweep that ran between a worker taking a message
and claiming its job published a second copy.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache

import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel

from webapp.celery import app

log = logging.getLogger(__name__)
TASK_NAME = "webapp.jobs.tasks.job_run_task"
DEFAULT_QUEUE = "gpu"  # settings.CELERY_TASK_ROUTES sends job_run_task here unless told
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class QueueUnavailable(Exception):
    """The broker cannot take a job now; nothing was saved (answered with 503)."""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # One pooled client per URL: a check per job costs a round trip, not a connection.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def queue_check() -> None:
    """Raise QueueUnavailable unless the broker answers (no broker configured: nothing to ask)."""
    if not settings.REDIS_URL:
        return
    try:
        _client(settings.REDIS_URL).ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("broker unreachable: %s", exc)
        raise QueueUnavailable("the job queue (Redis) is not reachable, so nothing was "
                               "saved; try again in a minute") from None


def publish(job_id: str, queue: str) -> bool:
    """Send one job's message; False (logged) when the broker refused or is down."""
    try:
        # A short retry: a pooled connection may be stale right after a broker restart.
        app.send_task(TASK_NAME, args=(job_id,), task_id=job_id, queue=queue or None,
                      retry=True, retry_policy=RETRY_POLICY)
    except Exception as exc:  # kombu/redis raise many types for "broker down"
        log.warning("could not queue job %s: %s", job_id, exc)
        return False
    return True


def waiting_job_ids(queues: set[str], held_for: float = 0.0) -> set[str]:
    """Ids of the jobs with a message waiting in one of `queues`, or taken by a worker
    less than `held_for` seconds ago (a Redis broker only)."""
    if not settings.REDIS_URL:
        return set()
    client = _client(settings.REDIS_URL)
    ids = set()
    for queue in queues:
        for step in PRIORITY_STEPS:
            key = queue if not step else f"{queue}{Channel.sep}{step}"
            ids.update(_job_id(raw) for raw in client.lrange(key, 0, -1))
    if held_for > 0:
        tags = client.zrangebyscore(Channel.unacked_index_key, time.time() - held_for, "+inf")
        held = client.hmget(Channel.unacked_key, tags) if tags else []
        # Each held entry is [message, exchange, routing key] (kombu's QoS.append).
        ids.update(_job_id(entry, held=True) for entry in held if entry)
    ids.discard("")
    return ids


def _job_id(raw: bytes, held: bool = False) -> str:
    """The job id a raw message carries, or "" when it is not a Celery message of ours."""
    try:
        message = json.loads(raw)
        return str((message[0] if held else message)["headers"]["id"])
    except (ValueError, KeyError, TypeError, IndexError):
        return ""
