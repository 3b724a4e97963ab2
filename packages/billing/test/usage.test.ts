import { createIsolatedDatabase } from '@packages/db';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addFeature,
  createTenant,
  createUsageService,
  FeatureNotMeteredError,
  IdempotencyConflictError,
  listFeatures,
  ReservationExpiredError,
  ReservationNotFoundError,
  setFeatureOverride,
  setFeatureUsage,
  TenantNotFoundError,
  UnknownFeatureError,
  ValidationError,
  type UsageOveragePolicy,
} from '../src/index.js';

/** Usage through the library in one process (docs/usage.md); the multi-process figures are in usage-processes.test.ts. */

const db = await createIsolatedDatabase({ poolMax: 8 });
afterAll(() => db.close());
const { prisma } = db;
let clock = new Date();
const usage = createUsageService(prisma, { pool: db.pool, now: () => clock, checkCacheMs: 0 });
afterAll(() => usage.close());

await addFeature(prisma, {
  key: 'api.calls',
  type: 'number',
  description: 'API calls a month',
  usage: { reset: 'month', overage: 'reject' },
});
await addFeature(prisma, {
  key: 'ai.tokens',
  type: 'number',
  description: 'AI tokens',
  usage: { reset: 'never', overage: 'cap' },
});
await addFeature(prisma, {
  key: 'emails',
  type: 'number',
  description: 'E-mails a day',
  usage: { reset: 'day', overage: 'allow' },
});
await addFeature(prisma, { key: 'seats', type: 'number', description: 'Seats' });

let n = 0;
/** A tenant with the given values for the metered keys (as overrides: plan values work the same way). */
async function tenant(values: Record<string, number | boolean>): Promise<string> {
  const id = `u-${++n}`;
  await createTenant(prisma, { id, name: id });
  for (const [key, value] of Object.entries(values)) await setFeatureOverride(prisma, id, key, value);
  return id;
}

describe('metered keys in the catalog', () => {
  it('stores the rules, lists them, and refuses bad ones', async () => {
    const listed = await listFeatures(prisma);
    expect(listed.find((f) => f.key === 'api.calls')?.usage).toEqual({ reset: 'month', overage: 'reject' });
    expect(listed.find((f) => f.key === 'seats')?.usage).toBeNull();
    await expect(
      addFeature(prisma, {
        key: 'bad.reset',
        type: 'number',
        description: 'x',
        usage: { reset: 'hourly', overage: 'reject' } as never,
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      addFeature(prisma, {
        key: 'bad.type',
        type: 'boolean',
        description: 'x',
        usage: { reset: 'month', overage: 'reject' },
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('meters a key later, changes and stops it, audited', async () => {
    await addFeature(prisma, { key: 'exports', type: 'number', description: 'Exports' });
    const entry = await setFeatureUsage(prisma, 'exports', { reset: 'day', overage: 'cap' }, { actor: 't' });
    expect(entry.usage).toEqual({ reset: 'day', overage: 'cap' });
    expect((await setFeatureUsage(prisma, 'exports', null)).usage).toBeNull();
    const audit = await prisma.featureCatalogAuditLog.findMany({
      where: { key: 'exports' },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => a.action)).toEqual(['feature_added', 'feature_metered', 'feature_unmetered']);
  });

  it('a key that is not metered, or unknown, is a typed error', async () => {
    const id = await tenant({ seats: 3 });
    await expect(usage.track(id, 'seats')).rejects.toBeInstanceOf(FeatureNotMeteredError);
    await expect(usage.track(id, 'nope.nothing')).rejects.toBeInstanceOf(UnknownFeatureError);
    await expect(usage.track('no-such-tenant', 'api.calls')).rejects.toBeInstanceOf(TenantNotFoundError);
    await expect(usage.track(id, 'api.calls', -1)).rejects.toBeInstanceOf(ValidationError);
    await expect(usage.track(id, 'api.calls', 1.5)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('track', () => {
  it('reject: 300 concurrent tracks against a limit of 100 grant exactly 100', async () => {
    const id = await tenant({ 'api.calls': 100 });
    const answers = await Promise.all(Array.from({ length: 300 }, () => usage.track(id, 'api.calls')));
    expect(answers.filter((a) => a.allowed)).toHaveLength(100);
    const refused = answers.find((a) => !a.allowed)!;
    expect(refused).toMatchObject({ used: 100, limit: 100, remaining: 0, granted: 0, entitled: true });
    expect(refused.resetsAt!.getTime()).toBeGreaterThan(clock.getTime());
    expect((await usage.getUsage(id)).meters.find((m) => m.key === 'api.calls')?.used).toBe(100);
  });

  it('cap: amounts above 1 never push the sum past the limit; at most one is cut', async () => {
    const id = await tenant({ 'ai.tokens': 500 });
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => usage.track(id, 'ai.tokens', 7 + (i % 5))),
    );
    const granted = answers.reduce((sum, a) => sum + a.granted, 0);
    expect(granted).toBe(500);
    // The call that met the limit got what was left (all of it, when the rest matched its amount).
    expect(
      answers.filter((a) => a.granted > 0 && a.granted < 7 + (answers.indexOf(a) % 5)).length,
    ).toBeLessThanOrEqual(1);
    expect(await usage.check(id, 'ai.tokens')).toMatchObject({ allowed: false, used: 500, remaining: 0 });
  });

  it('allow: consumes beyond the limit and counts the excess as overage', async () => {
    const id = await tenant({ emails: 10 });
    await usage.track(id, 'emails', 8);
    const over = await usage.track(id, 'emails', 5);
    expect(over).toMatchObject({ allowed: true, granted: 5, used: 13, overage: 3, remaining: 0 });
    const meter = (await usage.getUsage(id)).meters.find((m) => m.key === 'emails')!;
    expect(meter).toMatchObject({ used: 13, overage: 3, overLimit: true, policy: 'allow', reset: 'day' });
  });

  it('true is unlimited but counted; no value is not entitled', async () => {
    const id = await tenant({ 'api.calls': true });
    expect(await usage.track(id, 'api.calls', 1_000_000)).toMatchObject({
      allowed: true,
      used: 1_000_000,
      limit: null,
      remaining: null,
    });
    for (const key of ['ai.tokens', 'emails'])
      expect(await usage.track(id, key, 1)).toMatchObject({
        allowed: false,
        entitled: false,
        limit: 0,
        used: 0,
      });
  });

  it('an idempotency key counts once and answers the first answer again; reused for another request it is refused', async () => {
    const id = await tenant({ 'api.calls': 2 });
    const first = await Promise.all(
      Array.from({ length: 20 }, () => usage.track(id, 'api.calls', 2, { idempotencyKey: 'req-1' })),
    );
    expect(first.filter((a) => !a.replayed)).toHaveLength(1);
    expect(first.every((a) => a.allowed && a.granted === 2 && a.used === 2)).toBe(true);
    const refused = await usage.track(id, 'api.calls', 1, { idempotencyKey: 'req-2' });
    expect(refused.allowed).toBe(false);
    expect(await usage.track(id, 'api.calls', 1, { idempotencyKey: 'req-2' })).toMatchObject({
      allowed: false,
      replayed: true,
    });
    await expect(usage.track(id, 'api.calls', 2, { idempotencyKey: 'req-2' })).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
  });

  it('month and day periods follow `at` in UTC', async () => {
    const id = await tenant({ 'api.calls': 5, emails: 5 });
    const at = new Date('2026-03-31T23:59:59Z');
    const march = await usage.track(id, 'api.calls', 5, { at });
    expect(march.periodStart).toEqual(new Date('2026-03-01T00:00:00Z'));
    expect(march.resetsAt).toEqual(new Date('2026-04-01T00:00:00Z'));
    const april = await usage.track(id, 'api.calls', 5, { at: new Date('2026-04-01T00:00:00Z') });
    expect(april).toMatchObject({ allowed: true, used: 5 });
    const day = await usage.track(id, 'emails', 1, { at });
    expect(day.periodStart).toEqual(new Date('2026-03-31T00:00:00Z'));
    expect(day.resetsAt).toEqual(new Date('2026-04-01T00:00:00Z'));
  });
});

describe('a lower limit (downgrade) applies to the usage already counted', () => {
  it.each<[UsageOveragePolicy, string]>([['reject', 'api.calls']])(
    '%s: over the limit is reported and refused',
    async (_p, key) => {
      const id = await tenant({ [key]: 100 });
      await usage.track(id, key, 80);
      await setFeatureOverride(prisma, id, key, 50);
      const meter = (await usage.getUsage(id)).meters.find((m) => m.key === key)!;
      expect(meter).toMatchObject({ used: 80, limit: 50, remaining: 0, overLimit: true });
      expect(await usage.track(id, key)).toMatchObject({ allowed: false, used: 80, limit: 50 });
    },
  );
});

describe('reservations', () => {
  const ttlMs = 60_000;

  it('finalize below the reserved amount charges the actual amount and returns the rest', async () => {
    const id = await tenant({ 'api.calls': 100 });
    const r = await usage.reserve(id, 'api.calls', 40, { ttlMs });
    expect(r).toMatchObject({ allowed: true, granted: 40, reserved: 40, used: 0, remaining: 60 });
    expect(await usage.track(id, 'api.calls', 61)).toMatchObject({ allowed: false });
    expect(await usage.finalize(r.id!, 25)).toMatchObject({
      used: 25,
      reserved: 0,
      remaining: 75,
      granted: 25,
    });
    await expect(usage.finalize(r.id!, 25)).rejects.toBeInstanceOf(ReservationNotFoundError);
  });

  it('finalize at the reserved amount; above it under reject refuses the excess and charges the hold', async () => {
    const id = await tenant({ 'api.calls': 100 });
    const a = await usage.reserve(id, 'api.calls', 30, { ttlMs });
    expect(await usage.finalize(a.id!, 30)).toMatchObject({ used: 30, allowed: true });
    const b = await usage.reserve(id, 'api.calls', 60, { ttlMs });
    await usage.track(id, 'api.calls', 5);
    expect(await usage.finalize(b.id!, 70)).toMatchObject({ allowed: false, granted: 60, used: 95 });
    const c = await usage.reserve(id, 'api.calls', 2, { ttlMs });
    expect(await usage.finalize(c.id!, 5)).toMatchObject({ allowed: true, granted: 5, used: 100 });
  });

  it('finalize above under cap charges up to the limit; a reservation beyond the limit is refused', async () => {
    const id = await tenant({ 'ai.tokens': 100 });
    const r = await usage.reserve(id, 'ai.tokens', 50, { ttlMs });
    await usage.track(id, 'ai.tokens', 30);
    expect(await usage.finalize(r.id!, 90)).toMatchObject({ allowed: true, granted: 70, used: 100 });
    const none = await usage.reserve(id, 'api.calls', 1, { ttlMs });
    expect(none).toMatchObject({ allowed: false, id: null });
  });

  it('release returns everything', async () => {
    const id = await tenant({ 'api.calls': 10 });
    const r = await usage.reserve(id, 'api.calls', 10, { ttlMs });
    expect(await usage.check(id, 'api.calls')).toMatchObject({ allowed: false, reserved: 10 });
    expect(await usage.release(r.id!)).toMatchObject({ used: 0, reserved: 0, remaining: 10 });
    expect(await usage.check(id, 'api.calls', 10)).toMatchObject({ allowed: true });
  });

  it('an expired reservation returns its amount by itself; finalizing it is refused', async () => {
    const id = await tenant({ 'api.calls': 10 });
    const r = await usage.reserve(id, 'api.calls', 8, { ttlMs: 1_000 });
    const r2 = await usage.reserve(id, 'api.calls', 2, { ttlMs: 1_000 });
    clock = new Date(clock.getTime() + 1_001);
    // The track that would be refused finds the expired holds and takes their room.
    expect(await usage.track(id, 'api.calls', 9)).toMatchObject({ allowed: true, used: 9, reserved: 0 });
    await expect(usage.finalize(r.id!, 1)).rejects.toBeInstanceOf(ReservationNotFoundError);
    const r3 = await usage.reserve(id, 'api.calls', 1, { ttlMs: 1_000 });
    clock = new Date(clock.getTime() + 1_001);
    await expect(usage.finalize(r3.id!, 1)).rejects.toBeInstanceOf(ReservationExpiredError);
    expect((await usage.getUsage(id)).meters.find((m) => m.key === 'api.calls')).toMatchObject({
      used: 9,
      reserved: 0,
    });
    void r2;
  });

  it('a reservation with an idempotency key is made once', async () => {
    const id = await tenant({ 'api.calls': 10 });
    const [a, b] = await Promise.all([
      usage.reserve(id, 'api.calls', 4, { ttlMs, idempotencyKey: 'job-1' }),
      usage.reserve(id, 'api.calls', 4, { ttlMs, idempotencyKey: 'job-1' }),
    ]);
    expect(a.id).toBe(b.id);
    expect((await usage.check(id, 'api.calls')).reserved).toBe(4);
  });
});

describe('operators: setUsage and resetUsage', () => {
  it('set and reset the current period, audited', async () => {
    const id = await tenant({ 'api.calls': 10, 'ai.tokens': 10 });
    await usage.track(id, 'api.calls', 7);
    expect(await usage.setUsage(id, 'api.calls', 2, { actor: 'ops', source: 'cli' })).toMatchObject({
      used: 2,
      remaining: 8,
    });
    await usage.track(id, 'ai.tokens', 4);
    const reset = await usage.resetUsage(id, undefined, { actor: 'ops' });
    expect(reset.meters.map((m) => [m.key, m.used])).toEqual([
      ['ai.tokens', 0],
      ['api.calls', 0],
      ['emails', 0],
    ]);
    const audit = await prisma.featureAuditLog.findMany({
      where: { tenantId: id, action: 'usage_set' },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => [a.actor, a.source, a.before, (a.after as { usage: unknown }).usage])).toEqual([
      ['ops', 'cli', { usage: { 'api.calls': 7 } }, { 'api.calls': 2 }],
      ['ops', 'admin', { usage: { 'ai.tokens': 4 } }, { 'ai.tokens': 0 }],
      ['ops', 'admin', { usage: { 'api.calls': 2 } }, { 'api.calls': 0 }],
    ]);
    await expect(usage.setUsage('missing', 'api.calls', 1)).rejects.toBeInstanceOf(TenantNotFoundError);
  });
});
