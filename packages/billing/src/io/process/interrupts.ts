/**
 * Ctrl-C and SIGTERM handling shared by the server and the CLIs.
 *
 * One keypress can arrive as several signals: the terminal signals the whole foreground process
 * group (npm, the shell, node), and npm forwards the SIGINT it got to its child as well. Signals
 * within `sameSignalMs` of the first are therefore the same request; only a later one means
 * "again, stop now". A human pressing Ctrl-C twice is far slower than that window.
 */
export interface InterruptHandlers {
  /** The first request to stop: finish what is in flight, report, exit. */
  onStop(signal: NodeJS.Signals): void;
  /** A second, separate request while stopping: exit at once. */
  onForce(signal: NodeJS.Signals): void;
  signals?: NodeJS.Signals[];
  sameSignalMs?: number;
  /** See LATE_COPY_MS. */
  lateCopyMs?: number;
  now?: () => number;
}

export const SAME_SIGNAL_MS = 1000;

/**
 * How long after the work is done copies of the signal that stopped it are still swallowed. npm
 * forwards its copy from its own event loop, which on a loaded machine runs seconds late; a copy that
 * found no handler would kill the process by the signal (npm then reports no exit code) instead of
 * letting it exit as it was about to. The timer is unref'd, so it never keeps a process alive.
 */
export const LATE_COPY_MS = 30_000;

/**
 * Installs the handlers; returns a function that removes them. While the work runs, a signal within
 * `sameSignalMs` of the first is the same request and a later one forces. Once removed after a
 * signal, the handler stays `lateCopyMs` longer and ignores what arrives (the late copies of that
 * signal); removed before any signal, it is gone at once.
 */
export function onInterrupt(handlers: InterruptHandlers): () => void {
  const signals = handlers.signals ?? ['SIGINT', 'SIGTERM'];
  const window = handlers.sameSignalMs ?? SAME_SIGNAL_MS;
  const now = handlers.now ?? Date.now;
  let firstAt: number | null = null;
  let done = false;
  const listener = (signal: NodeJS.Signals) => {
    if (done) return;
    const t = now();
    if (firstAt === null) {
      firstAt = t;
      handlers.onStop(signal);
    } else if (t - firstAt > window) {
      handlers.onForce(signal);
    }
  };
  for (const signal of signals) process.on(signal, listener);
  const remove = () => {
    for (const signal of signals) process.off(signal, listener);
  };
  return () => {
    if (done) return;
    done = true;
    if (firstAt === null) return remove();
    setTimeout(remove, handlers.lateCopyMs ?? LATE_COPY_MS).unref();
  };
}
