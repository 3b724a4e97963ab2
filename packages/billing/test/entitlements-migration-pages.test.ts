import { beforeAll, describe, expect, it } from 'vitest';
import {
  migrateMetadataToEntitlements,
  type MigrationAction,
  type MigrationProblem,
} from '../src/flows/entitlements-migration/index.js';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import { mapConcurrent } from './helpers/fixtures.js';
import { useBillingTestEnv } from './helpers/use-env.js';

/**
 * The metadata → Stripe Features migration reads products a page at a time and plans (and carries
 * out) each page before reading the next, so memory holds one page however many products custom
 * plans created; its plan is still the one a single pass gives (a Feature created once across
 * pages), and its lists can be capped with every action counted.
 */
const env = await useBillingTestEnv();
const stripeSync = createStripeSyncService(env.stripe, { requestsPerSecond: 100_000, burst: 100_000 });
const deps = { stripe: env.stripe, call: stripeSync.call, catalog: DEFAULT_FEATURE_CATALOG };
// Two pages of products (100 a page), every one granting `sso` through its metadata.
const PRODUCTS = 130;
let productIds: string[];

beforeAll(async () => {
  productIds = await mapConcurrent(PRODUCTS, 8, async (i) => {
    const product = await env.stripe.products.create({ name: `Custom ${i}`, metadata: { features: 'sso' } });
    return product.id;
  });
  await env.stripe.products.create({ name: 'Broken', metadata: { featuresJson: '{"max_users":"lots"}' } });
});

describe('migrate-metadata-to-entitlements over several pages of products', () => {
  it('a dry run plans the Feature once across pages, keeps at most keepResults, counts and streams everything', async () => {
    const streamed: Array<{ action: MigrationAction } | { problem: MigrationProblem }> = [];
    const result = await migrateMetadataToEntitlements(deps, {
      keepResults: 10,
      onPlanned: (item) => streamed.push(item),
    });
    expect(result).toMatchObject({
      applied: false,
      products: PRODUCTS + 1,
      productsWithMetadataFeatures: PRODUCTS,
      featuresToCreate: 1,
      attachmentsToCreate: PRODUCTS,
      problemCount: 1,
      omitted: { actions: PRODUCTS + 1 - 10, problems: 0 },
    });
    expect(result.actions).toHaveLength(10);
    expect(result.problems).toMatchObject([{ lookupKey: null, reason: expect.stringMatching(/max_users/) }]);
    expect(streamed).toHaveLength(PRODUCTS + 2);
    const creates = streamed.filter((s) => 'action' in s && s.action.kind === 'create_feature');
    expect(creates).toHaveLength(1);
    // The creation comes before any attachment that needs it.
    expect('action' in streamed[0]! && streamed[0].action.kind).toBe('create_feature');
    expect((await env.stripe.entitlements.features.list({ limit: 100 })).data).toEqual([]);
  });

  it('--apply carries out each page before reading the next, creates the Feature once, and a second run has nothing to do', async () => {
    const order: string[] = [];
    const onResponse = (r: { method: string; path: string }) => {
      if (r.method === 'GET' && /^\/v1\/products(\?|$)/.test(r.path)) order.push('products page');
    };
    env.stripe.on('response', onResponse);
    let result;
    try {
      result = await migrateMetadataToEntitlements(deps, {
        apply: true,
        keepResults: false,
        onApplied: (action) => order.push(action.kind),
      });
    } finally {
      env.stripe.off('response', onResponse);
    }
    expect(result).toMatchObject({ actions: [], featuresToCreate: 1, attachmentsToCreate: PRODUCTS });
    // Page one's creation and attachments went before page two was read.
    expect(order.slice(0, 3)).toEqual(['products page', 'create_feature', 'attach_feature']);
    expect(order.indexOf('products page', 1)).toBeGreaterThan(order.indexOf('attach_feature'));
    const features = (await env.stripe.entitlements.features.list({ limit: 100 })).data;
    expect(features.map((f) => f.lookup_key)).toEqual(['sso']);
    for (const id of [productIds[0]!, productIds.at(-1)!]) {
      const attached = (await env.stripe.products.listFeatures(id)).data;
      expect(attached.map((pf) => pf.entitlement_feature.lookup_key)).toEqual(['sso']);
    }
    const again = await migrateMetadataToEntitlements(deps, { apply: true });
    expect(again).toMatchObject({
      actions: [],
      featuresToCreate: 0,
      attachmentsToCreate: 0,
      alreadyAttached: PRODUCTS,
    });
  });
});
