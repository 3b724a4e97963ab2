import { pathToFileURL } from 'node:url';
import { createBillingContext, type BillingContext } from '../context.js';
import { messageOf } from '../errors.js';
import { schedulePaymentGrace, type PaymentGraceSchedule } from '../webhooks/index.js';
import { buildServer } from './app.js';

/**
 * `npm start`: configuration → services → HTTP. On SIGINT/SIGTERM the server stops accepting,
 * lets in-flight requests (webhook transactions included) finish, and only then closes the
 * database, so a deploy never cuts a webhook mid-transaction (Stripe would retry it, but the
 * log would show a spurious failure).
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const port = parsePort(env.PORT);
  const host = env.HOST?.trim() || '127.0.0.1';
  let context: BillingContext;
  try {
    context = await createBillingContext({ env, requireWebhookSecret: true });
  } catch (error) {
    console.error(`Configuration error: ${messageOf(error)}`);
    process.exitCode = 1;
    return;
  }

  // The context carries every dependency of both route sets; the compiler flags any new one it lacks.
  const app = await buildServer(context, { logger: env.LOG_LEVEL !== 'silent' });

  let grace: PaymentGraceSchedule | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    // A second signal while draining means "now".
    const force = () => process.exit(1);
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    try {
      await app.close();
      // A grace run in progress finishes before the database it writes to is closed.
      await grace?.stop();
    } finally {
      await context.close();
    }
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  try {
    await app.listen({ port, host });
  } catch (error) {
    app.log.error({ err: error }, 'could not listen');
    await context.close();
    process.exitCode = 1;
    return;
  }
  const graceMinutes = context.env.PAYMENT_GRACE_CHECK_MINUTES ?? DEFAULT_GRACE_CHECK_MINUTES;
  if (graceMinutes > 0 && !stopping) {
    grace = schedulePaymentGrace(context.prisma, context.featureSync, {
      intervalMs: graceMinutes * 60_000,
      ...(context.env.PAYMENT_GRACE_PERIOD_DAYS !== undefined
        ? { gracePeriodDays: context.env.PAYMENT_GRACE_PERIOD_DAYS }
        : {}),
      onRun: (result) => {
        if (result.restricted.length > 0 || result.failed.length > 0) {
          app.log.info({ restricted: result.restricted, failed: result.failed }, 'payment grace enforced');
        }
      },
      onError: (error) =>
        app.log.error({ err: error }, 'payment grace run failed; retrying at the next interval'),
    });
  }
}

/** Stripe retries a failed payment over days, so hourly is well inside any useful grace period. */
const DEFAULT_GRACE_CHECK_MINUTES = 60;

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be an integer from 0 to 65535, got "${value}"`);
  return port;
}

// Run only as the entry point, so tests can import main() without starting a server.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
