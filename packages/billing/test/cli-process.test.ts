import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILED, runMigrateCli } from '../src/entry/cli/migrate-stripe-metadata-to-db.js';
import { EXIT_DRIFT, runReconcileCli } from '../src/entry/cli/reconcile.js';
import { createSyncRuns } from '../src/flows/feature-sync/index.js';
import { sqlThroughPool } from '../src/io/sql-runner.js';
import { captureStream } from './admin-helpers.js';
import { seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';
import { finished } from './helpers/child-process.js';
import { ensureBuilt } from './helpers/build.js';

// The npm scripts run the compiled package (npm run build); rebuilt here when a source is newer.
beforeAll(ensureBuilt, 300_000);

/**
 * The CLIs as an operator runs them: the documented npm commands as real child processes, their
 * stdout parsed, Ctrl-C sent to the whole process group (as a terminal does) in the middle of a run.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const env = await useAdminTestEnv();
await seedTenantsWithSubscriptions(env.stripe, env.prisma, 12, {
  plans: await seedPlans(env.stripe),
  prefix: 'proc',
});

/** The child works on the test's own schema (real PostgreSQL) or its own embedded database. */
function childEnv(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...process.env,
    STRIPE_SECRET_KEY: env.emu.apiKey,
    STRIPE_API_BASE: env.emu.url,
  };
  delete out.REDIS_URL;
  if (process.env.DATABASE_URL) out.DATABASE_SCHEMA = env.db.schema;
  else delete out.DATABASE_SCHEMA;
  return out;
}

function npm(args: string[]) {
  const child = spawn('npm', args, { cwd: repoRoot, env: childEnv(), detached: true });
  return { child, done: finished(child) };
}

const subscriptionListRequests = () =>
  Object.entries(env.emu.requestCounts()).reduce(
    (n, [key, count]) => (key.startsWith('GET /v1/subscriptions') ? n + count : n),
    0,
  );

describe('--json through the documented npm commands is JSON on stdout', () => {
  it.each([
    [['run', '-s', 'migrate-stripe-metadata-to-db', '--', '--dry-run', '--json']],
    [['run', '-s', '-w', '@packages/billing', 'migrate-stripe-metadata-to-db', '--', '--dry-run', '--json']],
    [['run', '-s', 'reconcile', '--', '--json']],
  ])('npm %j', { timeout: 120_000 }, async (args) => {
    const { code, stdout, stderr } = await npm(args).done;
    expect([0, 1], stderr).toContain(code);
    expect(() => JSON.parse(stdout)).not.toThrow();
  });
});

describe('Ctrl-C in the middle of a run prints the partial summary', () => {
  it.each([
    ['migrate-stripe-metadata-to-db', ['--dry-run', '--json']],
    ['reconcile', ['--json']],
  ])('npm run -s %s', { timeout: 120_000 }, async (script, flags) => {
    // A slow Stripe keeps the run in progress long enough to interrupt it.
    env.emu.injectLatency(3000, { path: /^\/v1\/subscriptions/ });
    try {
      const before = subscriptionListRequests();
      const run = npm(['run', '-s', script, '--', ...flags]);
      for (let i = 0; i < 1200 && subscriptionListRequests() === before; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(subscriptionListRequests()).toBeGreaterThan(before);
      // The whole group, as a terminal's Ctrl-C: npm forwards its copy too, and both count as one.
      process.kill(-run.child.pid!, 'SIGINT');
      const { code, stdout, stderr } = await run.done;
      expect(code, stderr).toBe(130);
      expect(JSON.parse(stdout)).toMatchObject({ interrupted: true });
      expect(stderr).toContain('Stopping after the tenants in progress');
    } finally {
      env.emu.clearFaults();
    }
  });
});

describe('a sync run whose process dies (kill -9)', () => {
  // The child must share the test's database to leave a row in it: real PostgreSQL only.
  it.skipIf(!process.env.DATABASE_URL)(
    'stops beating: its row reads abandoned once the heartbeat is stale, and the next full sync starts',
    { timeout: 120_000 },
    async () => {
      // A stale bound of 2 s instead of 60 s: the same rule, read sooner.
      const runs = createSyncRuns(env.featureSync, { sql: sqlThroughPool(env.db.pool), staleAfterMs: 2_000 });
      const hold = env.emu.holdRequests({ method: 'GET', path: '/v1/subscriptions' });
      try {
        const run = npm(['run', '-s', 'migrate-stripe-metadata-to-db', '--', '--dry-run']);
        const dead = await vi.waitFor(
          async () => {
            const [latest] = await runs.list(1);
            expect(latest).toMatchObject({ status: 'running', actor: 'cli' });
            expect(hold.held).toBeGreaterThan(0);
            return latest!;
          },
          { timeout: 60_000, interval: 100 },
        );
        process.kill(-run.child.pid!, 'SIGKILL');
        await run.done;
        await vi.waitFor(async () => expect((await runs.get(dead.id)).status).toBe('abandoned'), {
          timeout: 10_000,
          interval: 200,
        });
        hold.release();
        const next = await runs.start({ actor: 'test', source: 'sync', dryRun: true });
        expect((await next.finished).status).toBe('succeeded');
        expect(await runs.get(dead.id)).toMatchObject({ status: 'abandoned', summary: null });
      } finally {
        hold.release();
      }
    },
  );
});

describe('one rule for an unknown --tenant-id: a failure (exit 1) in both CLIs', () => {
  const io = () => ({ stdout: captureStream(), stderr: captureStream() });

  it('migrate-stripe-metadata-to-db', async () => {
    const streams = io();
    const code = await runMigrateCli(['--tenant-id', 'no-such-tenant', '--json'], {
      ...streams,
      context: { featureSync: env.featureSync },
    });
    expect(code).toBe(EXIT_FAILED);
    expect(JSON.parse(streams.stdout.text).summary.skipped).toEqual({ tenant_not_found: 1 });
  });

  it('reconcile', async () => {
    const streams = io();
    const code = await runReconcileCli(['--tenant-id', 'no-such-tenant', '--json'], {
      ...streams,
      context: { prisma: env.prisma, featureSync: env.featureSync },
    });
    expect(code).toBe(EXIT_DRIFT);
    expect(EXIT_DRIFT).toBe(EXIT_FAILED);
    expect(JSON.parse(streams.stdout.text).failed).toEqual([
      expect.objectContaining({ tenantId: 'no-such-tenant', code: 'tenant_not_found' }),
    ]);
  });
});
