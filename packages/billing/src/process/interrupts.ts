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
  now?: () => number;
}

export const SAME_SIGNAL_MS = 1000;

/**
 * Installs the handlers; returns a function that removes them. Removed while the first signal's
 * window is still open (the work was done quickly), they stay until it closes: npm's forwarded copy
 * of the same Ctrl-C may still be on its way, and with no handler it would kill the process by the
 * signal (npm then reports no exit code) instead of letting it exit as it was about to.
 */
export function onInterrupt(handlers: InterruptHandlers): () => void {
  const signals = handlers.signals ?? ['SIGINT', 'SIGTERM'];
  const window = handlers.sameSignalMs ?? SAME_SIGNAL_MS;
  const now = handlers.now ?? Date.now;
  let firstAt: number | null = null;
  const listener = (signal: NodeJS.Signals) => {
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
    const open = firstAt === null ? 0 : window - (now() - firstAt);
    // Unref'd: the wait never keeps a process alive that has nothing else to do.
    if (open > 0) setTimeout(remove, open).unref();
    else remove();
  };
}
