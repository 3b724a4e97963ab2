import { beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT_DRIFT, runReconcileCli } from '../src/entry/cli/reconcile.js';
import {
  reconcileTenants,
  type ReconcileOptions,
  type ReconcileVerdict,
} from '../src/flows/reconcile/index.js';
import type { StripeSyncService } from '../src/io/stripe-sync/index.js';
import { captureStream } from './admin-helpers.js';
import {
  createTenant,
  mapConcurrent,
  seedTenantsWithSubscriptions,
  type SeededTenant,
} from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

/**
 * The reconcile walks Stripe page by page and judges (and fixes) batches of customers while the
 * walk goes on: verdicts come before the last page, the lists it returns can be capped (the rest
 * counted), a customer whose better subscription sits on a later page is judged on all its pages
 * and counted once, and the configured tenants no customer named are found after the walk, in the
 * database. A fix still re-reads its customer with no lock held and keeps a webhook's newer write.
 */
const env = await useWebhookTestEnv();
let seeded: SeededTenant[];
const split = { tenantId: 'rs_split', customerId: '' };
const lapsed = { tenantId: 'rs_lapsed', customerId: '' };
const TENANTS = 230;
// Several batches per run, several pages per walk (100 subscriptions a page).
const BATCH = 60;

const reconcile = (options: ReconcileOptions = {}, stripeSync: StripeSyncService = env.stripeSync) =>
  reconcileTenants(
    { prisma: env.prisma, featureSync: { stripeSync, reader: env.featureSync.reader } },
    { batchSize: BATCH, ...options },
  );
const config = (tenantId: string) =>
  env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId } });
const reconcileAudits = () => env.prisma.featureAuditLog.count({ where: { action: 'reconcile' } });

beforeAll(async () => {
  // Oldest: the split customer's active pro subscription; newest: a canceled enterprise one. A
  // newest-first walk meets the canceled one first (no access), the active one pages later.
  const customer = await env.stripe.customers.create({ name: 'Split' });
  split.customerId = customer.id;
  await createTenant(env.prisma, split.tenantId, customer.id);
  await env.stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: env.plans.pro.price.id }],
  });
  seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, TENANTS, {
    plans: env.plans,
    prefix: 'rs',
  });
  const later = await env.stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: env.plans.enterprise.price.id }],
  });
  env.emu.setSubscriptionStatus(later.id, 'canceled');
  const { summary } = await env.featureSync.syncAllTenantsFromStripe();
  expect(summary.updated).toBe(TENANTS + 1);

  // A linked tenant whose customer has no subscription at all (config from before it lapsed), and
  // an unlinked manual config: neither is named by the walk.
  const none = await env.stripe.customers.create({ name: 'Lapsed' });
  lapsed.customerId = none.id;
  await createTenant(env.prisma, lapsed.tenantId, none.id);
  await env.prisma.tenantFeatureConfig.create({
    data: {
      tenantId: lapsed.tenantId,
      features: { sso: true, max_users: 10 },
      planFeatures: { sso: true, max_users: 10 },
    },
  });
  await createTenant(env.prisma, 'rs_internal');
  await env.prisma.tenantFeatureConfig.create({
    data: { tenantId: 'rs_internal', source: 'manual', features: { sso: true } },
  });
});

describe('streaming reconcile', () => {
  it('judges batches while the walk goes on, counts a customer spread over pages once, and finds the unnamed tenants after the walk', async () => {
    // Each list page answers after 100 ms: the walk takes several hundred ms, the batches run meanwhile.
    env.emu.injectLatency(100, { method: 'GET', path: '/v1/subscriptions' });
    let lastPageAt = 0;
    const onResponse = (r: { path: string }) => {
      if (r.path.startsWith('/v1/subscriptions')) lastPageAt = performance.now();
    };
    env.stripe.on('response', onResponse);
    const verdicts: Array<ReconcileVerdict & { at: number }> = [];
    let result;
    try {
      result = await reconcile({
        keepResults: false,
        onResult: (v) => verdicts.push({ ...v, at: performance.now() }),
      });
    } finally {
      env.stripe.off('response', onResponse);
      env.emu.clearFaults();
    }

    // The first verdicts came before the walk's last page.
    expect(verdicts[0]!.at).toBeLessThan(lastPageAt);
    // Nothing listed, everything counted: the seeded tenants and the split one in sync (once),
    // the lapsed one drifting (expected restricted), the manual one skipped.
    expect(result).toMatchObject({
      drift: [],
      failed: [],
      skipped: [],
      checked: TENANTS + 2,
      inSync: TENANTS + 1,
      drifting: 1,
      driftLeft: 1,
      skippedByReason: { unlinked: 1 },
      omitted: { drift: 1, failed: 0, skipped: 1 },
    });
    // The split customer: first judged on its canceled subscription alone, then replaced once the
    // page with its active one came.
    const splitVerdicts = verdicts.filter((v) => v.customerId === split.customerId);
    expect(splitVerdicts.map((v) => [v.status, v.replaces ?? false])).toEqual([
      ['drift', false],
      ['in_sync', true],
    ]);
    // The tenants no customer named come last, from the database after the walk.
    expect(verdicts.slice(-2).map((v) => [v.tenantId, v.status])).toEqual([
      ['rs_internal', 'skipped'],
      [lapsed.tenantId, 'drift'],
    ]);
    expect(verdicts.at(-1)!.drift).toMatchObject({
      expected: { accessActive: false, features: { sso: false, max_users: 0 } },
    });
  });

  it('keeps at most keepResults of each list and counts the rest; every verdict still streams', async () => {
    const tampered = seeded.slice(0, 5);
    for (const t of tampered)
      await env.prisma.tenantFeatureConfig.update({
        where: { tenantId: t.tenantId },
        data: { features: { sso: true } },
      });
    // The last verdict per customer (the split customer's first, a drift, is replaced later).
    const last = new Map<string, ReconcileVerdict>();
    const result = await reconcile({
      keepResults: 2,
      onResult: (v) => last.set(v.customerId ?? v.tenantId!, v),
    });
    const streamed = [...last.values()].filter((v) => v.status === 'drift').map((v) => v.tenantId!);
    expect(result.drift).toHaveLength(2);
    expect(result).toMatchObject({
      drifting: 6,
      driftLeft: 6,
      omitted: { drift: 4, failed: 0, skipped: 0 },
      skipped: [{ tenantId: 'rs_internal', reason: 'unlinked' }],
    });
    expect(streamed.sort()).toEqual([...tampered.map((t) => t.tenantId), lapsed.tenantId].sort());
    // The default keeps everything, as small runs and the spec's examples read it.
    const all = await reconcile();
    expect(all.drift.map((d) => d.tenantId).sort()).toEqual(streamed);
    expect(all.omitted).toBeUndefined();
    expect(all.checked).toBe(TENANTS + 2);
  });

  it('the CLI prints progress on stderr and, with --json-lines, a line per tenant to look at and a summary line', async () => {
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runReconcileCli(['--json-lines'], {
      context: { prisma: env.prisma, featureSync: env.featureSync },
      stdout,
      stderr,
    });
    expect(code).toBe(EXIT_DRIFT);
    const lines = stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // One line per drifting tenant (the CLI's batches of 500 hold both of the split customer's
    // pictures, judged once on the later one); in-sync tenants are not printed.
    expect(lines.filter((l) => l.type === 'verdict' && l.status === 'drift')).toHaveLength(6);
    expect(lines.filter((l) => l.type === 'verdict' && l.status === 'in_sync')).toEqual([]);
    expect(lines.at(-1)).toMatchObject({
      type: 'summary',
      exitCode: EXIT_DRIFT,
      checked: TENANTS + 2,
      drifting: 6,
      failed: 0,
      skippedByReason: { unlinked: 1 },
    });
    expect(stderr.text).toMatch(new RegExp(`progress: ${TENANTS + 2}/${TENANTS + 2} \\(100%\\)`));
  });

  it('fix corrects every drift while the walk goes on, fixes a half-picture drift from the whole customer, and a second run is clean', async () => {
    const audits = await reconcileAudits();
    const result = await reconcile({ fix: true, keepResults: 100 });
    expect(result).toMatchObject({ fixed: 6, driftLeft: 0, failed: [] });
    // The split customer's first verdict was judged on its canceled subscription alone; its fix read
    // the customer whole and found it in sync, so nothing was written, and the later page's verdict
    // does not count it twice.
    expect(result.drift.find((d) => d.tenantId === split.tenantId)?.fix).toBe('already_in_sync');
    expect(result.checked).toBe(TENANTS + 2);
    expect(await reconcileAudits()).toBe(audits + 6);
    expect(await config(split.tenantId)).toMatchObject({
      accessActive: true,
      stripePriceId: env.plans.pro.price.id,
    });
    expect(await config(lapsed.tenantId)).toMatchObject({
      accessActive: false,
      features: { sso: false, max_users: 0 },
    });
    const again = await reconcile({ fix: true });
    expect(again).toMatchObject({ inSync: TENANTS + 1, drifting: 1, fixed: 0, driftLeft: 0 });
    expect(again.drift.map((d) => [d.tenantId, d.fix])).toEqual([[split.tenantId, 'already_in_sync']]);
    expect(await reconcileAudits()).toBe(audits + 6);
  });

  it('a fix holds no lock across its Stripe read and keeps the write of a webhook delivered meanwhile', async () => {
    const victim = seeded.find((t) => t.priceId === env.plans.pro.price.id)!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: victim.tenantId },
      data: { features: { sso: true } },
    });
    const auditsBefore = (await env.audits(victim.tenantId)).length;
    let lockFree: boolean | undefined;
    const racing: StripeSyncService = {
      ...env.stripeSync,
      async getSubscriptionState(customerId: string) {
        const state = await env.stripeSync.getSubscriptionState(customerId);
        if (customerId !== victim.customerId || lockFree !== undefined) return state;
        // Were the fix holding the tenant's lock (or the only embedded connection), this would fail or hang.
        lockFree = await env.prisma
          .$transaction(
            (tx) => tx.$queryRaw`SELECT id FROM tenants WHERE id = ${victim.tenantId} FOR UPDATE NOWAIT`,
            { timeout: 3_000 },
          )
          .then(
            () => true,
            () => false,
          );
        // The customer upgrades; its webhook is delivered and processed before the fix writes.
        const sub = await env.stripe.subscriptions.retrieve(victim.subscriptionId);
        await env.stripe.subscriptions.update(sub.id, {
          items: [{ id: sub.items.data[0]!.id, price: env.plans.enterprise.price.id }],
        });
        const event = env.lastEvent('customer.subscription.updated', sub.id);
        expect((await env.deliver(event)).status).toBeLessThan(300);
        await env.settled([event.id]);
        return state;
      },
    };
    const result = await reconcile({ fix: true }, racing);
    expect(lockFree).toBe(true);
    const drift = result.drift.find((d) => d.tenantId === victim.tenantId)!;
    // Judged and re-read on pro, but the webhook's enterprise write came after the read began.
    expect(drift.expected.bundle).toBe('pro');
    expect(drift.fix).toBe('skipped');
    expect(result.driftLeft).toBe(1);
    expect(await config(victim.tenantId)).toMatchObject({
      bundle: 'enterprise',
      stripePriceId: env.plans.enterprise.price.id,
    });
    // The webhook's row only: no reconcile row.
    expect((await env.audits(victim.tenantId)).slice(auditsBefore)).toMatchObject([
      { source: 'webhook', stripeEventId: expect.stringMatching(/^evt_/) },
    ]);
    expect((await reconcile()).drift).toEqual([]);
  });
});

describe('streaming reconcile: the end of the walk', () => {
  it('a walk that fails half-way rejects the run and draws no "never named" verdict from it', async () => {
    env.emu.injectLatency(100, { method: 'GET', path: '/v1/subscriptions' });
    const verdicts: ReconcileVerdict[] = [];
    let faulted = false;
    try {
      const run = reconcile({
        keepResults: false,
        onResult: (v) => {
          verdicts.push(v);
          // Pages after the first now fail for good (past the retry budget).
          if (!faulted) env.emu.injectFault({ status: 500, count: 10_000, path: /^\/v1\/subscriptions/ });
          faulted = true;
        },
      });
      await expect(run).rejects.toThrow();
    } finally {
      env.emu.clearFaults();
    }
    expect(verdicts.length).toBeGreaterThan(0);
    expect(verdicts.length).toBeLessThan(TENANTS);
    expect(verdicts.filter((v) => v.tenantId === lapsed.tenantId || v.tenantId === 'rs_internal')).toEqual(
      [],
    );
  });

  it('a tenant linked during the run to a customer already judged is left for the next run, not declared lost', async () => {
    // A paying customer no tenant knows yet: the walk skips it (no_tenant); then, while the run is
    // still going, an operator creates its tenant.
    const customer = await env.stripe.customers.create({ name: 'Late' });
    await env.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: env.plans.pro.price.id }],
    });
    let judged = false;
    // The tenant appears once the walk is over and the customer's batch judged, before the run
    // looks for the tenants the walk never named.
    const linking: StripeSyncService = {
      ...env.stripeSync,
      async forEachCustomerPage(onEntries) {
        await env.stripeSync.forEachCustomerPage!(onEntries);
        await vi.waitFor(() => expect(judged).toBe(true), { timeout: 10_000 });
        await createTenant(env.prisma, 'rs_late', customer.id);
        await env.prisma.tenantFeatureConfig.create({
          data: { tenantId: 'rs_late', features: { sso: true } },
        });
      },
    };
    const result = await reconcile(
      {
        // One customer per batch: each is judged as soon as its page is in.
        batchSize: 1,
        onResult: (v) => {
          if (v.customerId === customer.id) judged = true;
        },
      },
      linking,
    );
    expect(result.skipped).toContainEqual({ tenantId: null, customerId: customer.id, reason: 'no_tenant' });
    expect(result.drift.map((d) => d.tenantId)).not.toContain('rs_late');
    // The next run finds it through its customer, drifting from the plan it pays for.
    const next = await reconcile();
    expect(next.drift.find((d) => d.tenantId === 'rs_late')).toMatchObject({
      expected: { bundle: 'pro', accessActive: true },
    });
  });

  it('an unbound tenant named by two customers in different batches goes to the first; the other is a duplicate', async () => {
    await createTenant(env.prisma, 'rs_dup');
    await env.prisma.tenantFeatureConfig.create({ data: { tenantId: 'rs_dup', features: {} } });
    const customers: string[] = [];
    for (const name of ['Dup A', 'Dup B']) {
      const c = await env.stripe.customers.create({ name, metadata: { tenantId: 'rs_dup' } });
      await env.stripe.subscriptions.create({ customer: c.id, items: [{ price: env.plans.pro.price.id }] });
      customers.push(c.id);
    }
    const verdicts: ReconcileVerdict[] = [];
    // One customer per batch: the second customer's batch cannot see the first's match in its own.
    await reconcile({ batchSize: 1, onResult: (v) => v.tenantId === 'rs_dup' && verdicts.push(v) });
    // The walk is newest first: B claims the tenant (drifting: nothing stored yet), A is the duplicate.
    expect(verdicts.map((v) => [v.customerId, v.status, v.reason ?? null])).toEqual([
      [customers[1], 'drift', null],
      [customers[0], 'skipped', 'duplicate_customer'],
    ]);
  });

  it('a customer whose two pictures fall in one batch is judged once, on the later one, even when only its hint names the tenant', async () => {
    // An unbound tenant named by its customer's metadata; the customer's active subscription is
    // older than the next 100 subscriptions, its canceled one newer: two pages, one batch.
    await createTenant(env.prisma, 'rs_hinted');
    const customer = await env.stripe.customers.create({
      name: 'Hinted',
      metadata: { tenantId: 'rs_hinted' },
    });
    await env.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: env.plans.pro.price.id }],
    });
    await mapConcurrent(100, 8, async () => {
      const other = await env.stripe.customers.create({ name: 'Filler' });
      await env.stripe.subscriptions.create({
        customer: other.id,
        items: [{ price: env.plans.starter.price.id }],
      });
    });
    const later = await env.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: env.plans.enterprise.price.id }],
    });
    env.emu.setSubscriptionStatus(later.id, 'canceled');
    const verdicts: ReconcileVerdict[] = [];
    const result = await reconcile({
      batchSize: 10_000,
      onResult: (v) => v.customerId === customer.id && verdicts.push(v),
    });
    // Judged on its active pro subscription, linked through the hint: no config yet, so drifting.
    expect(verdicts).toMatchObject([
      { status: 'drift', tenantId: 'rs_hinted', drift: { expected: { bundle: 'pro', accessActive: true } } },
    ]);
    expect(verdicts[0]!.replaces).toBeUndefined();
    expect(result.skippedByReason.duplicate_customer ?? 0).toBe(1);
  });
});
