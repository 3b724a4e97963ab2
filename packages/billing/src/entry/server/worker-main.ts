import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { messageOf } from '../../core/errors.js';
import { onInterrupt } from '../../io/process/interrupts.js';
import { repeatedErrorLog, WEBHOOK_CLAIM_MESSAGES } from '../../io/process/repeated-errors.js';
import { openProcessContext, redisWarningAtStart } from './process-context.js';
import { startWebhookWorkers } from '../../flows/webhooks/index.js';
import { REDACT_PATHS } from './logging.js';

/**
 * `npm run worker`: webhook workers without an HTTP server, for scaling processing apart from
 * ingestion. Any number of them (and of servers) share one database: claims use FOR UPDATE SKIP
 * LOCKED with a lease, so no event is processed twice at once and a killed worker's events are
 * taken over once its lease runs out. SIGINT/SIGTERM: no new claims, current ones finish, exit.
 */
export async function workerMain(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const opened = await openProcessContext(env, { requirePersistentDatabase: true });
  if (!opened) return;
  const { config, context } = opened;
  const log = pino({
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
  opened.routeWebhookLogTo(log);
  const redisWarning = await redisWarningAtStart(context);
  if (redisWarning) log.warn(redisWarning);
  // A worker process exists to process: WEBHOOK_WORKERS=0 (meant for `npm start`) still runs one loop.
  const concurrency = Math.max(1, config.WEBHOOK_WORKERS);
  // A database outage fails every poll: its first failure is logged whole, then a summary a minute.
  const claimErrors = repeatedErrorLog(log, WEBHOOK_CLAIM_MESSAGES);
  const workers = startWebhookWorkers(context.webhooks, {
    concurrency,
    pollIntervalMs: config.WEBHOOK_POLL_MS,
    onError: claimErrors.failed,
    onClaimed: claimErrors.succeeded,
  });
  log.info({ concurrency, pollMs: config.WEBHOOK_POLL_MS }, 'webhook worker started');
  // Usage alerts (USAGE_WEBHOOK_URL) are delivered by every server and worker; context.close() stops it.
  context.usageAlerts?.start();
  context.usageMeters.start();
  const removeHandlers = onInterrupt({
    onStop: (signal) => {
      log.info({ signal }, 'shutting down');
      void (async () => {
        try {
          await workers.stop();
        } finally {
          await context.close();
          removeHandlers();
        }
      })();
    },
    onForce: () => process.exit(1),
  });
}

// Run only as the entry point, so tests can import workerMain() without starting workers.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  workerMain().catch((error: unknown) => {
    console.error(`Worker failed: ${messageOf(error)}`);
    process.exit(1);
  });
}
