import { pathToFileURL } from 'node:url';
import { createBillingContext, type BillingContext } from '../context.js';
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
    console.error(`Configuration error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
    return;
  }

  // The context carries every dependency of both route sets; the compiler flags any new one it lacks.
  const app = await buildServer(context, { logger: env.LOG_LEVEL !== 'silent' });

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
  }
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be an integer from 0 to 65535, got "${value}"`);
  return port;
}

// Run only as the entry point, so tests can import main() without starting a server.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
