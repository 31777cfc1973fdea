"""The reply process: `finetune-bot run` answers questions in a second process of its own.

Why: an answer's work (reading the thread, streaming the model, writing the database) is Python that holds
the interpreter's lock. In the process that serves Slack, every acknowledgement then waits its turn behind
it; under a burst that is tens of milliseconds an ack. Here the serving process only reads each event into
a ReplyOrder and sends it down a pipe; this process does the work, on its own bounded pool (which refuses
visibly when full) and its own clients, in the kernel's idle scheduling class, so an ack never waits for
a core either.

It is forked at start-up before any thread exists, dies with its parent (a kill -9 of the bot leaves no
process answering behind its back: the restarted bot takes over what it left, as with one process), and
on a clean stop answers what it was handed, then exits. If it ends early, the serving process says so
once and answers in its own process from then on: no question is dropped.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from collections import deque
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from bot.config import Settings
from bot.replies import ReplyOrder, TakesReplies

log = logging.getLogger("bot.reply_process")

NICENESS = 10  # added to the reply process's nice value when it cannot take the idle class (see _yield_the_cpu)
STOP_SECONDS = 30.0  # a clean stop waits this long for the answers already handed over
RECENT_ORDERS = 1000  # more than the reply pool holds (8 working, 300 queued) plus a full pipe
PR_SET_PDEATHSIG = 1


def available() -> bool:
    """Forking is how the process starts (its settings and code are the parent's, nothing to re-import)."""
    return "fork" in get_all_start_methods()


class ReplyProcess:
    """The serving process's end: starts the reply process, hands it orders, and stops it."""

    def __init__(self, process: BaseProcess, sender: Connection) -> None:
        self.process = process
        self._sender = sender
        self._lock = threading.Lock()
        self._fallback: TakesReplies | None = None
        self._gone = False
        self._stopping = False
        # what was handed over lately: if the process ends, these are taken again here (the event-id claim
        # and the unfinished-reply check skip those it finished, as for Slack's redeliveries)
        self._recent: deque[ReplyOrder] = deque(maxlen=RECENT_ORDERS)
        self._watch = threading.Thread(target=self._watch_process, name="reply-process-watch", daemon=True)

    @classmethod
    def start(cls, settings: Settings) -> ReplyProcess:
        """Forks the reply process; call before any thread is started (a fork copies only the calling thread)."""
        receiver, sender = get_context("fork").Pipe(duplex=False)
        parent = os.getpid()
        process = get_context("fork").Process(target=_serve, args=(settings, receiver, sender, parent),
                                              name="reply-process", daemon=True)
        process.start()
        receiver.close()
        log.info("reply process started (pid %s)", process.pid)
        return cls(process, sender)

    def answer_here_if_gone(self, fallback: TakesReplies) -> None:
        """Where orders go when the reply process has ended: this process's own pool. Starts watching it."""
        self._fallback = fallback
        self._watch.start()

    def take(self, order: ReplyOrder) -> None:
        with self._lock:
            if not self._gone:
                try:
                    self._sender.send(order)
                    self._recent.append(order)
                    return
                except (OSError, ValueError):  # a broken pipe, or a closed end: the process is gone
                    pass
        self._taken_over()
        self._here(order)

    def _watch_process(self) -> None:
        """Notices the reply process ending while no order comes, so what it held is answered at once."""
        self.process.join()
        if not self._stopping:
            self._taken_over()

    def _taken_over(self) -> None:
        """Once: say so, and take again here what was handed over lately."""
        with self._lock:
            if self._gone:
                return
            self._gone = True
            again = list(self._recent)
            self._recent.clear()
        self.process.join(5)
        log.error("the reply process has ended (exit status %s): answering in this process from now on, "
                  "%d recent question(s) checked again", self.process.exitcode, len(again))
        for order in again:
            self._here(order)

    def _here(self, order: ReplyOrder) -> None:
        if self._fallback is None:
            raise RuntimeError("the reply process has ended and nothing else takes its orders")
        self._fallback.take(order)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """A clean stop: no more orders; the process answers what it was handed, then exits."""
        with self._lock:
            self._stopping = self._gone = True
            self._sender.close()
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("the reply process did not finish within %.0f s; stopping it", timeout)
            self.process.terminate()
            self.process.join(5)


# --------------------------------------------------------------------------- the reply process itself


def _serve(settings: Settings, receiver: Connection, sender: Connection, parent: int) -> None:
    """The reply process: its own services (database, Slack and model clients, pool), orders until the pipe ends."""
    sender.close()  # the parent's end: only the parent may hold it, or the pipe would never end
    _die_with(parent)
    _yield_the_cpu(trains_here=settings.backend == "local" and settings.local_worker == "inside")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a process manager's SIGTERM is the parent's to handle
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bot.services import build_services

    services = build_services(settings)
    replies = services.replies
    assert replies is not None
    try:
        while True:
            try:
                order = receiver.recv()
            except (EOFError, OSError):  # the parent stopped (or died): no more orders
                break
            try:
                replies.take(order)
            except Exception as exc:  # one order must never end the process
                log.error("reply order for %s failed: %s: %s", getattr(order, "event_id", None), type(exc).__name__, exc)
    finally:
        services.close()  # drains the pool first: answers what it took


def _yield_the_cpu(*, trains_here: bool) -> None:
    """The idle scheduling class: the kernel runs this process on what the serving process leaves, and
    preempts it the moment an ack needs a core (a lower nice value alone still lets it finish its time slice
    first, milliseconds on every ack). When the bot also trains in its own process (the local backend with
    LOCAL_WORKER=inside), training would leave answers nothing, so the process only lowers its nice value."""
    try:
        if trains_here:
            os.nice(NICENESS)
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread, and every thread it starts
    except (AttributeError, OSError) as exc:  # not Linux: the process runs at the priority it has
        log.debug("could not lower the reply process's CPU priority: %s", exc)


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this process when the parent dies (kill -9 included)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError) as exc:  # not Linux: the pipe's end still stops it once its work is done
        log.debug("could not ask to die with the parent: %s", exc)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)
