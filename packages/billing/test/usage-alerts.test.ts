import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addFeature,
  createTenant,
  createUsageAlertDispatcher,
  createUsageService,
  listUsageAlerts,
  replayUsageAlert,
  setFeatureOverride,
} from '../src/index.js';
import { buildServer } from '../src/server.js';
import { ADMIN_TOKEN, bearer, TENANT_A_TOKEN } from './admin-helpers.js';

/**
 * Usage alerts (docs/usage.md, Alerts): recorded with the counter change that crossed the threshold,
 * once per threshold per period, delivered from the outbox as webhooks signed the way Stripe signs,
 * retried with backoff until the receiver takes them.
 */
const SECRET = 'whsec_usage_alerts_test_secret';
const db = await createIsolatedDatabase();
afterAll(() => db.close());
const { prisma } = db;
const usage = createUsageService(prisma, { recordAlerts: true, checkCacheMs: 0 });
afterAll(() => usage.close());
await addFeature(prisma, {
  key: 'api.calls',
  type: 'number',
  description: 'API calls',
  usage: { reset: 'month', overage: 'reject' },
});
await createTenant(prisma, { id: 'al-a', name: 'A' });
await setFeatureOverride(prisma, 'al-a', 'api.calls', 10);

/** A host endpoint that verifies with the stripe SDK and fails each event's first three deliveries. */
const verifier = new Stripe('sk_test_unused');
const received: { id: string; type: string; ok: boolean; object: Record<string, unknown> }[] = [];
const attemptsById = new Map<string, number>();
const receiver: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    let event: Stripe.Event;
    try {
      event = verifier.webhooks.constructEvent(body, req.headers['stripe-signature'] as string, SECRET);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const attempt = (attemptsById.get(event.id) ?? 0) + 1;
    attemptsById.set(event.id, attempt);
    const ok = attempt > 3;
    received.push({
      id: event.id,
      type: event.type,
      ok,
      object: event.data.object as unknown as Record<string, unknown>,
    });
    res.writeHead(ok ? 200 : 500).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/usage-alerts`;

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('usage alerts', () => {
  it('one signed delivery per threshold per period, through three failures each', async () => {
    await usage.track('al-a', 'api.calls', 7);
    expect(await listUsageAlerts(prisma)).toHaveLength(0);
    await usage.track('al-a', 'api.calls', 1, { idempotencyKey: 'k1' });
    await usage.track('al-a', 'api.calls', 1, { idempotencyKey: 'k1' });
    await usage.track('al-a', 'api.calls', 2);
    await usage.track('al-a', 'api.calls', 1); // refused: nothing crosses
    const recorded = await listUsageAlerts(prisma, { tenantId: 'al-a' });
    expect(recorded.map((a) => [a.threshold, a.type, a.used, a.limit])).toEqual([
      [100, 'usage.limit_reached', 10, 10],
      [80, 'usage.threshold_reached', 8, 10],
    ]);
    // The same period again after an operator reset: thresholds already reported stay reported.
    await usage.resetUsage('al-a', 'api.calls');
    await usage.track('al-a', 'api.calls', 9);
    expect(await listUsageAlerts(prisma, { tenantId: 'al-a' })).toHaveLength(2);

    const dispatcher = createUsageAlertDispatcher(prisma, { url, secret: SECRET, backoffMs: 10, pollMs: 20 });
    dispatcher.start();
    try {
      await until(
        async () => (await listUsageAlerts(prisma)).every((a) => a.status === 'delivered'),
        'both alerts delivered',
      );
    } finally {
      await dispatcher.stop();
    }
    const delivered = received.filter((r) => r.ok);
    expect(delivered.map((r) => r.type).sort()).toEqual(['usage.limit_reached', 'usage.threshold_reached']);
    expect(received.filter((r) => !r.ok)).toHaveLength(6);
    expect(delivered.find((r) => r.type === 'usage.threshold_reached')?.object).toMatchObject({
      tenantId: 'al-a',
      key: 'api.calls',
      threshold: 80,
      used: 8,
      limit: 10,
    });
    expect((await listUsageAlerts(prisma)).map((a) => a.attempts)).toEqual([4, 4]);
  });

  it('a replayed alert is delivered again, with the same event id', async () => {
    const [latest] = await listUsageAlerts(prisma);
    const before = received.filter((r) => r.id === `evt_usage_${latest!.id}` && r.ok).length;
    expect((await replayUsageAlert(prisma, latest!.id))?.status).toBe('pending');
    expect(await replayUsageAlert(prisma, 999_999)).toBeNull();
    const dispatcher = createUsageAlertDispatcher(prisma, { url, secret: SECRET, backoffMs: 10 });
    expect(await dispatcher.deliverDue()).toBe(1);
    expect(received.filter((r) => r.id === `evt_usage_${latest!.id}` && r.ok)).toHaveLength(before + 1);
  });

  it('a receiver that never answers in time leaves the alert failed after the last attempt', async () => {
    await createTenant(prisma, { id: 'al-b', name: 'B' });
    await setFeatureOverride(prisma, 'al-b', 'api.calls', 1);
    await usage.track('al-b', 'api.calls', 1);
    let clock = Date.now();
    const dispatcher = createUsageAlertDispatcher(prisma, {
      url: 'http://127.0.0.1:9/unreachable',
      secret: SECRET,
      maxAttempts: 2,
      backoffMs: 1_000,
      timeoutMs: 500,
      now: () => new Date(clock),
    });
    expect(await dispatcher.deliverDue()).toBe(0);
    clock += 1_000;
    expect(await dispatcher.deliverDue()).toBe(0);
    const [alert] = await listUsageAlerts(prisma, { tenantId: 'al-b' });
    expect(alert).toMatchObject({ status: 'failed', attempts: 2 });
    expect(alert!.lastError).toBeTruthy();
  });

  it('the admin API lists the outbox by tenant and status and replays an alert, audited as the admin', async () => {
    const app = await buildServer({
      prisma,
      usage,
      auth: {
        tokens: [
          { name: 'ops', role: 'admin', token: ADMIN_TOKEN },
          { name: 'tenant-a', role: 'tenant', tenantId: 'al-a', token: TENANT_A_TOKEN },
        ],
        prisma,
      },
    } as unknown as Parameters<typeof buildServer>[0]);
    try {
      const get = (url: string, token = ADMIN_TOKEN) =>
        app.inject({ method: 'GET', url, headers: bearer(token) });
      const failed = await get('/api/admin/usage-alerts?status=failed');
      expect(failed.statusCode).toBe(200);
      const alerts = failed.json<{ alerts: { id: number; tenantId: string; status: string }[] }>().alerts;
      // al-b's two thresholds (80 and 100 %, crossed by one track), never delivered.
      expect(alerts.map((a) => [a.tenantId, a.status])).toEqual([
        ['al-b', 'failed'],
        ['al-b', 'failed'],
      ]);
      expect((await get('/api/admin/usage-alerts?tenantId=al-a')).json().alerts).toHaveLength(2);
      expect((await get('/api/admin/usage-alerts?status=nope')).statusCode).toBe(400);
      expect((await get('/api/admin/usage-alerts', TENANT_A_TOKEN)).statusCode).toBe(403);

      const replay = (id: number, token = ADMIN_TOKEN) =>
        app.inject({ method: 'POST', url: `/api/admin/usage-alerts/${id}/replay`, headers: bearer(token) });
      expect((await replay(alerts[0]!.id, TENANT_A_TOKEN)).statusCode).toBe(403);
      const replayed = await replay(alerts[0]!.id);
      expect(replayed.json()).toMatchObject({ id: alerts[0]!.id, status: 'pending', attempts: 0 });
      expect((await replay(999_999)).json()).toMatchObject({ error: { code: 'usage_alert_not_found' } });
      const audit = await prisma.featureAuditLog.findMany({ where: { action: 'usage_alert_replayed' } });
      expect(audit.map((a) => [a.tenantId, a.actor, a.source])).toEqual([['al-b', 'admin:ops', 'admin']]);
      expect(audit[0]!.before).toMatchObject({
        usageAlert: { id: alerts[0]!.id, status: 'failed', attempts: 2 },
      });
      expect(audit[0]!.after).toMatchObject({ usageAlert: { status: 'pending', attempts: 0 } });
    } finally {
      await app.close();
    }
  });
});
