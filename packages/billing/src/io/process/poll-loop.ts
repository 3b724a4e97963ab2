/**
 * A background loop for the outboxes (usage alerts, Stripe meter reports): `run` once at start, then
 * again `pollMs` after each round ends (never two rounds at once). The timer is unref'd so it never
 * keeps a process alive; a failed round is the round's own business (it records its failures) and
 * does not end the loop. stop() waits for a round in progress.
 */
export interface PollLoop {
  start(): void;
  stop(): Promise<void>;
}

export function pollLoop(run: () => Promise<unknown>, pollMs: number): PollLoop {
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> = Promise.resolve();
  let stopped = false;
  return {
    start() {
      if (timer) return;
      stopped = false;
      const tick = () => {
        round = run()
          .catch(() => undefined)
          .finally(() => {
            if (!stopped) timer = setTimeout(tick, pollMs).unref();
          });
      };
      timer = setTimeout(tick, 0).unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await round;
    },
  };
}
