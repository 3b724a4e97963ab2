import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import {
  addFeature,
  createTenant,
  createUsageService,
  setFeatureOverride,
  type UsageService,
} from '../src/index.js';
import { processEnv } from './helpers/env.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/**
 * Issue 21's exactness tests: three `npm start` servers (real child processes) and the library in
 * this process on one PostgreSQL schema, tracking over POST /api/admin/tenants/:id/usage/track.
 */
const HAS_SERVICES = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const TOKEN = 'usage-admin-token-0123456789abcdef';

type Server = ServerProcess;

const spawned = new Set<ChildProcess>();
const startServer = (env: NodeJS.ProcessEnv) => startServerProcess(env, { track: spawned });

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

interface Answer {
  allowed: boolean;
  granted: number;
  used: number;
  replayed: boolean;
}

async function track(
  server: Server,
  tenantId: string,
  body: { key: string; amount?: number; idempotencyKey?: string },
): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${server.port}/api/admin/tenants/${tenantId}/usage/track`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`track answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Answer;
}

describe.skipIf(!HAS_SERVICES)(
  `usage across 3 server processes and the library${HAS_SERVICES ? '' : ' (skipped: needs DATABASE_URL and REDIS_URL)'}`,
  () => {
    let emu: Awaited<ReturnType<typeof startStripeEmulator>>;
    let db: Database;
    let servers: Server[];
    let usage: UsageService;

    beforeAll(async () => {
      [emu, db] = await Promise.all([
        startStripeEmulator({ port: 0 }),
        createIsolatedDatabase({ poolMax: 4 }),
      ]);
      await addFeature(db.prisma, {
        key: 'api.calls',
        type: 'number',
        description: 'API calls',
        usage: { reset: 'month', overage: 'reject' },
      });
      await addFeature(db.prisma, {
        key: 'ai.tokens',
        type: 'number',
        description: 'AI tokens',
        usage: { reset: 'month', overage: 'cap' },
      });
      const env = {
        ...processEnv(emu, db),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DATABASE_POOL_MAX: '4',
        DATABASE_READ_POOL_MAX: '1',
        WEBHOOK_WORKERS: '0',
        PAYMENT_GRACE_CHECK_MINUTES: '0',
        ADMIN_API_TOKENS: `ops:admin=${TOKEN}`,
      };
      servers = await Promise.all([startServer(env), startServer(env), startServer(env)]);
      usage = createUsageService(db.prisma, { pool: db.pool });
    }, 120_000);

    afterAll(async () => {
      usage?.close();
      await Promise.all([...spawned].map(kill));
      await db?.close();
      await emu?.close();
    });

    async function tenant(id: string, values: Record<string, number>) {
      await createTenant(db.prisma, { id, name: id });
      for (const [key, value] of Object.entries(values)) await setFeatureOverride(db.prisma, id, key, value);
    }

    it('64 concurrent tracks per process (3 servers + this one) against a limit of 100: exactly 100', async () => {
      await tenant('px-exact', { 'api.calls': 100 });
      const calls = [
        ...servers.flatMap((s) =>
          Array.from({ length: 64 }, () => track(s, 'px-exact', { key: 'api.calls' })),
        ),
        ...Array.from({ length: 64 }, () => usage.track('px-exact', 'api.calls')),
      ];
      const answers = await Promise.all(calls);
      expect(answers).toHaveLength(256);
      expect(answers.filter((a) => a.allowed)).toHaveLength(100);
      const meter = (await usage.getUsage('px-exact')).meters.find((m) => m.key === 'api.calls');
      expect(meter?.used).toBe(100);
    });

    it('cap with amounts above 1: the sum granted is the limit, never more', async () => {
      await tenant('px-cap', { 'ai.tokens': 1000 });
      const amount = (i: number) => 3 + (i % 7);
      const calls = [
        ...servers.flatMap((s) =>
          Array.from({ length: 64 }, (_, i) => track(s, 'px-cap', { key: 'ai.tokens', amount: amount(i) })),
        ),
        ...Array.from({ length: 64 }, (_, i) => usage.track('px-cap', 'ai.tokens', amount(i))),
      ];
      const answers = await Promise.all(calls);
      expect(answers.reduce((sum, a) => sum + a.granted, 0)).toBe(1000);
      expect(Math.max(...answers.map((a) => a.used))).toBe(1000);
    });

    it('one idempotency key retried 50 times over two servers, one killed with SIGKILL mid-way: counted once', async () => {
      await tenant('px-idem', { 'api.calls': 1000 });
      const body = { key: 'api.calls', amount: 7, idempotencyKey: 'order-42' };
      const [victim, survivor] = [servers[0]!, servers[1]!];
      // 50 retries at the first server, killed as soon as the first of them is answered.
      let answered!: () => void;
      const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
      const doomed = Array.from({ length: 50 }, () =>
        track(victim, 'px-idem', body).then(
          (a) => (answered(), a),
          () => null,
        ),
      );
      await firstAnswer;
      await kill(victim.child);
      const survived = (await Promise.all(doomed)).filter((a) => a !== null);
      expect(survived.every((a) => a.used === 7)).toBe(true);
      // The client retries at the other server until it has its 50 answers.
      const retried = await Promise.all(Array.from({ length: 50 }, () => track(survivor, 'px-idem', body)));
      expect(retried.every((a) => a.allowed && a.granted === 7 && a.used === 7)).toBe(true);
      expect(retried.every((a) => a.replayed)).toBe(true);
      const meter = (await usage.getUsage('px-idem')).meters.find((m) => m.key === 'api.calls');
      expect(meter?.used).toBe(7);
      expect(await db.prisma.usageLedger.count({ where: { tenantId: 'px-idem' } })).toBe(1);
    });
  },
);
