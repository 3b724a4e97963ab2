import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '@packages/db';
import { createBillingContext, type BillingContext } from '../src/entry/context.js';
import { buildServer } from '../src/entry/server/app.js';
import { createApiToken } from '../src/io/http/auth.js';
import { setupBillingTestEnv, processEnv, type BillingTestEnv } from './helpers/env.js';
import { watched } from './helpers/child-process.js';
import { startFreezableProxy, startSilentListener, type FreezableProxy } from './helpers/frozen-postgres.js';

/**
 * PostgreSQL frozen under a running server (a TCP proxy that stops forwarding, as a SIGSTOPped or
 * partitioned server looks to its clients) and hung from the start (a listener that accepts and
 * never answers). Every wait must end within the configured timeouts: requests answer 503
 * `database_unavailable`, start-up fails with one line naming DATABASE_URL, a CLI honours SIGTERM.
 * Real PostgreSQL only for the proxy cases (the embedded one runs in the process).
 */

const REAL_POSTGRES = Boolean(process.env.DATABASE_URL);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const ADMIN = 'frozen-admin-token-0123456789';
const TIMEOUTS = { connectMs: 500, statementMs: 1000, idleInTransactionMs: 5000 };
/** statement + the client's 1 s margin, plus room for a loaded 2-core machine. */
const REQUEST_BOUND_MS = TIMEOUTS.statementMs + 1000 + 1500;

describe.skipIf(!REAL_POSTGRES)('a running server whose PostgreSQL freezes', () => {
  let env: BillingTestEnv;
  let proxy: FreezableProxy;
  let db: Database;
  let context: BillingContext;
  let app: Awaited<ReturnType<typeof buildServer>>;

  beforeAll(async () => {
    env = await setupBillingTestEnv();
    proxy = await startFreezableProxy(process.env.DATABASE_URL!);
    db = await openDatabase({
      databaseUrl: proxy.url,
      schema: env.db.schema,
      migrate: false,
      timeouts: TIMEOUTS,
    });
    context = await createBillingContext({
      env: { ...processEnv(env.emu, env.db), REDIS_URL: undefined, ADMIN_API_TOKENS: `ops:admin=${ADMIN}` },
      database: db,
    });
    app = await buildServer(context);
  });

  afterAll(async () => {
    proxy?.thaw();
    await app?.close();
    await context?.close();
    await db?.close();
    await proxy?.close();
    await env?.close();
  });

  const timed = async <T>(fn: () => Promise<T>) => {
    const started = performance.now();
    const value = await fn();
    return { value, ms: performance.now() - started };
  };
  const adminGet = (url: string, token = ADMIN) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  it('admin reads and a signed webhook answer 503 database_unavailable within the timeouts, and recover when it thaws', async () => {
    expect((await adminGet('/api/admin/tenants/t_frozen')).statusCode).toBe(404);
    proxy.freeze();
    try {
      const read = await timed(() => adminGet('/api/admin/tenants/t_frozen'));
      expect(read.value.statusCode).toBe(503);
      expect(read.value.headers['retry-after']).toBe('5');
      expect(read.value.json()).toEqual({
        error: { code: 'database_unavailable', message: expect.any(String) },
      });
      expect(read.ms).toBeLessThan(REQUEST_BOUND_MS);

      const body = JSON.stringify({
        id: 'evt_frozen_1',
        object: 'event',
        type: 'customer.subscription.updated',
        created: Math.floor(Date.now() / 1000),
        data: { object: { id: 'sub_frozen', object: 'subscription', customer: 'cus_frozen' } },
      });
      const hook = await timed(() =>
        app.inject({
          method: 'POST',
          url: '/api/stripe/webhook',
          headers: { 'content-type': 'application/json', 'stripe-signature': env.emu.signPayload(body) },
          payload: body,
        }),
      );
      expect(hook.value.statusCode).toBe(503);
      expect(hook.value.json().error.code).toBe('database_unavailable');
      expect(hook.ms).toBeLessThan(REQUEST_BOUND_MS);
    } finally {
      proxy.thaw();
    }
    expect((await adminGet('/api/admin/tenants/t_frozen')).statusCode).toBe(404);
  });

  it('an unknown token is refused at once while the database is frozen; a token created meanwhile is known', async () => {
    const created = await createApiToken(env.prisma, { name: 'frozen-db-token', role: 'admin' });
    expect((await adminGet('/api/admin/tenants/t_frozen', created.token)).statusCode).toBe(404);
    proxy.freeze();
    try {
      const unknown = await timed(() =>
        adminGet('/api/admin/tenants/t_frozen', `ent_admin_${'x'.repeat(43)}`),
      );
      expect(unknown.value.statusCode).toBe(401);
      expect(unknown.ms).toBeLessThan(250);
    } finally {
      proxy.thaw();
    }
  });
});

describe('start-up against a PostgreSQL that accepts and never answers', () => {
  const CONNECT_MS = 1000;
  const entry = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));

  async function startAgainstSilence(script: string, extra: NodeJS.ProcessEnv = {}) {
    const silent = await startSilentListener();
    const child = spawn(process.execPath, ['--import', 'tsx', entry(script)], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: `postgresql://postgres:secret-password@127.0.0.1:${silent.port}/x`,
        DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_MS),
        STRIPE_SECRET_KEY: 'sk_test_frozen',
        STRIPE_WEBHOOK_SECRET: 'whsec_frozen',
        PORT: '0',
        ...extra,
      },
    });
    return { run: watched(child), silent };
  }

  // The bound runs from the connection attempt (the listener accepting it) to the exit: loading the
  // process (tsx) before it takes anything from 2 to 30 s on a loaded machine and is not the wait.
  it.each([
    ['npm start', 'entry/server/main.ts'],
    ['npm run worker', 'entry/server/worker-main.ts'],
  ])(
    '%s exits 1 within the connect timeout with one line naming DATABASE_URL',
    async (_name, script) => {
      const { run, silent } = await startAgainstSilence(script);
      try {
        const code = await run.exited;
        const exitedAt = performance.now();
        expect(code).toBe(1);
        const lines = run.output().trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(
          new RegExp(
            `DATABASE_URL: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${silent.port}/x: no answer within ${CONNECT_MS} ms`,
          ),
        );
        expect(lines[0]).not.toContain('secret-password');
        expect(exitedAt - silent.firstConnectionAt()!).toBeLessThan(CONNECT_MS + 3_000);
      } finally {
        run.child.kill('SIGKILL');
        await silent.close();
      }
    },
    90_000,
  );

  it('npm run reconcile honours SIGTERM while it waits on the database', async () => {
    // A connect timeout far longer than the test: only the signal can end the wait.
    const { run, silent } = await startAgainstSilence('entry/cli/reconcile.ts', {
      DATABASE_CONNECT_TIMEOUT_MS: '600000',
    });
    try {
      await until(() => silent.connections() > 0 || run.child.exitCode !== null, 60_000);
      expect(silent.connections()).toBeGreaterThan(0);
      const signalled = performance.now();
      run.child.kill('SIGTERM');
      const code = await run.exited;
      expect(code).toBe(130);
      expect(performance.now() - signalled).toBeLessThan(5_000 + 3_000);
    } finally {
      run.child.kill('SIGKILL');
      await silent.close();
    }
  }, 90_000);
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
