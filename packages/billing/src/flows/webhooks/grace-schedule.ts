import type { PrismaClient } from '@packages/db';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import { enforcePaymentGrace, type EnforcePaymentGraceResult } from './grace.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface PaymentGraceScheduleOptions {
  /** Time between runs; the first run starts at once. */
  intervalMs: number;
  gracePeriodDays?: number;
  onRun?: (result: EnforcePaymentGraceResult) => void;
  onError?: (error: unknown) => void;
}

export interface PaymentGraceSchedule {
  /** Runs now unless a run is already under way (then that run's promise). */
  runNow(): Promise<EnforcePaymentGraceResult | undefined>;
  /** No further runs; resolves once a run in progress has finished, so the database can be closed after it. */
  stop(): Promise<void>;
}

/**
 * Runs `enforcePaymentGrace` every `intervalMs` inside the process that serves webhooks, so the
 * "restrict after the grace period" half of the policy happens without an external cron. Several
 * processes may run it at once: each tenant is re-checked under its row lock, so that is safe.
 * Runs never overlap within a process, and the timer does not keep the process alive.
 */
export function schedulePaymentGrace(
  prisma: PrismaClient,
  featureSync: { reader: Pick<FeatureReader, 'publish'> },
  options: PaymentGraceScheduleOptions,
): PaymentGraceSchedule {
  // Above 2^31-1 ms Node silently fires the timer every millisecond instead.
  if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0 || options.intervalMs > MAX_TIMER_MS) {
    throw new RangeError(
      `intervalMs must be a positive number of milliseconds up to ${MAX_TIMER_MS}, got ${options.intervalMs}`,
    );
  }
  let running: Promise<EnforcePaymentGraceResult | undefined> | undefined;
  let stopped = false;

  async function runOnce(): Promise<EnforcePaymentGraceResult | undefined> {
    try {
      const result = await enforcePaymentGrace(prisma, featureSync, {
        ...(options.gracePeriodDays !== undefined ? { gracePeriodDays: options.gracePeriodDays } : {}),
      });
      options.onRun?.(result);
      return result;
    } catch (error) {
      // A failed run (database down) must not end the schedule: the next tick tries again.
      try {
        options.onError?.(error);
      } catch {
        // A throwing logger must not turn into an unhandled rejection from the timer.
      }
      return undefined;
    } finally {
      running = undefined;
    }
  }

  const runNow = () => {
    if (stopped) return Promise.resolve(undefined);
    running ??= runOnce();
    return running;
  };

  const timer = setInterval(() => void runNow(), options.intervalMs);
  timer.unref();
  void runNow();

  return {
    runNow,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
