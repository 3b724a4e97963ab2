import { pathToFileURL } from 'node:url';
import { messageOf } from '../../core/errors.js';
import {
  schedulePaymentGrace,
  startWebhookWorkers,
  type PaymentGraceSchedule,
  type WebhookWorkers,
} from '../../flows/webhooks/index.js';
import { onInterrupt } from '../../io/process/interrupts.js';
import { repeatedErrorLog, WEBHOOK_CLAIM_MESSAGES } from '../../io/process/repeated-errors.js';
import { openProcessContext, redisWarningAtStart } from './process-context.js';
import { buildMetricsServer, buildServer } from './app.js';

/**
 * `npm start`: configuration → services → HTTP, plus WEBHOOK_WORKERS in-process webhook workers
 * (the route then answers once the event is stored; the workers are woken at once). On
 * SIGINT/SIGTERM the server stops accepting, lets in-flight requests and the workers' current
 * claims finish, and only then closes the database. A claim cut short anyway (kill -9) is taken
 * over by any worker once its lease runs out.
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const opened = await openProcessContext(env, {
    requireWebhookSecret: true,
    requirePersistentDatabase: true,
  });
  if (!opened) return;
  const { config, context } = opened;
  const { PORT: port, HOST: host } = config;

  // The context carries every dependency of both route sets; the compiler flags any new one it lacks.
  const metricsPort = config.METRICS_PORT;
  const app = await buildServer(context, {
    logger: config.LOG_LEVEL === 'silent' ? false : config.LOG_LEVEL,
    metricsRoute: metricsPort === undefined ? 'admin' : 'off',
  });
  opened.routeWebhookLogTo(app.log);
  // GET /metrics on a listener of its own, without a token: for a scraper on a private network.
  const metricsApp =
    metricsPort === undefined
      ? undefined
      : await buildMetricsServer(context.prometheus, {
          logger: config.LOG_LEVEL === 'silent' ? false : config.LOG_LEVEL,
        });
  const redisWarning = await redisWarningAtStart(context);
  if (redisWarning) app.log.warn(redisWarning);
  if (context.db.embedded) {
    app.log.warn(
      'ALLOW_EMBEDDED_DATABASE: serving from an embedded in-memory database. Every tenant, feature and ' +
        'acknowledged webhook is LOST when this process stops. Set DATABASE_URL for anything but development.',
    );
  }

  let grace: PaymentGraceSchedule | undefined;
  let workers: WebhookWorkers | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    try {
      // Sync runs are stopped (and recorded aborted) at once, not after the requests drain: a
      // `?wait=true` request waiting on one then answers now rather than holding the close 25 s.
      await Promise.all([context.syncRuns.close(), app.close(), metricsApp?.close()]);
      // A grace run or a worker's claim in progress finishes before the database it writes to is closed.
      await Promise.all([grace?.stop(), workers?.stop()]);
    } finally {
      await context.close();
      removeHandlers();
    }
  };
  // A second, separate signal while draining means "now"; the copies one Ctrl-C produces
  // (terminal and npm both signal this process) are one request.
  const removeHandlers = onInterrupt({
    onStop: (signal) => void stop(signal),
    onForce: () => process.exit(1),
  });

  let address = `${host}:${port}`;
  try {
    await app.listen({ port, host });
    // PORT=0 lets the OS choose the port: say which even when LOG_LEVEL hides Fastify's own line,
    // since nothing else can tell the caller (a supervisor, a test) where to connect.
    if (port === 0 && ['fatal', 'error', 'warn'].includes(config.LOG_LEVEL))
      app.log.child({}, { level: 'info' }).info(`Server listening at ${app.listeningOrigin}`);
    address = `${config.METRICS_HOST}:${metricsPort}`;
    await metricsApp?.listen({ port: metricsPort, host: config.METRICS_HOST });
  } catch (error) {
    // One line an operator can act on (EADDRINUSE, EACCES); the stack says nothing more.
    app.log.error(`could not listen on ${address}: ${messageOf(error)}`);
    removeHandlers();
    await Promise.all([app.close(), metricsApp?.close()]);
    await context.close();
    process.exitCode = 1;
    return;
  }
  if (config.WEBHOOK_WORKERS > 0 && !stopping) {
    // A database outage fails every poll: its first failure is logged whole, then a summary a minute.
    const claimErrors = repeatedErrorLog(app.log, WEBHOOK_CLAIM_MESSAGES);
    workers = startWebhookWorkers(context.webhooks, {
      concurrency: config.WEBHOOK_WORKERS,
      pollIntervalMs: config.WEBHOOK_POLL_MS,
      onError: claimErrors.failed,
      onClaimed: claimErrors.succeeded,
    });
  }
  // Usage alerts (USAGE_WEBHOOK_URL) and Stripe meter events: from their outboxes; context.close() stops them.
  if (!stopping) context.usageAlerts?.start();
  if (!stopping) context.usageMeters.start();
  const graceMinutes = config.PAYMENT_GRACE_CHECK_MINUTES ?? DEFAULT_GRACE_CHECK_MINUTES;
  if (graceMinutes > 0 && !stopping) {
    grace = schedulePaymentGrace(context.prisma, context.featureSync, {
      intervalMs: graceMinutes * 60_000,
      ...(config.PAYMENT_GRACE_PERIOD_DAYS !== undefined
        ? { gracePeriodDays: config.PAYMENT_GRACE_PERIOD_DAYS }
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

// Run only as the entry point, so tests can import main() without starting a server.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    // One line: the stack is noise for an operator, and the cause is in the message.
    console.error(`Server failed: ${messageOf(error)}`);
    process.exit(1);
  });
}
