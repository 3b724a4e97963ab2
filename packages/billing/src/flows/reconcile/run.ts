import type { PrismaClient } from '@packages/db';
import type { reconcileFacts, SubscriptionTruth, TenantFeatureState } from '../../core/index.js';
import type { BillingError } from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { readSubscriptionTruth, StripeSyncService } from '../../io/stripe-sync/index.js';
import type { IdMap } from '../../io/id-map.js';
import type { RunSql } from '../../io/sql-runner.js';
import type { ReconcileResults } from './results.js';
import type { ReconcileOptions } from './types.js';

export interface ReconcileDeps {
  prisma: PrismaClient;
  featureSync: { stripeSync: StripeSyncService; reader: Pick<FeatureReader, 'publish'> };
}

/** A tenant to judge: its stored state and what Stripe implies (read per customer when null). */
export interface Candidate {
  tenantId: string;
  customerId: string | null;
  /** Set the tenant's stripe_customer_id when fixing (matched through a metadata hint). */
  link: boolean;
  state: TenantFeatureState | null;
  /** Null: read per customer (single-tenant mode). */
  truth: SubscriptionTruth | null;
  error?: BillingError;
  /** The walk handed this customer out again: its verdict replaces the earlier one. */
  replaces?: boolean;
}

/** What the reconcile's steps share: the services, the options, the results, the clock, the run's memory. */
export interface ReconcileRun {
  deps: ReconcileDeps;
  options: ReconcileOptions;
  results: ReconcileResults;
  stripeSync: StripeSyncService;
  sql: RunSql;
  actor: string;
  readTruth: (customerId: string) => ReturnType<typeof readSubscriptionTruth>;
  factsFor: (tenantId: string) => ReturnType<typeof reconcileFacts>;
  /** True once the run's signal has aborted (and marks the result interrupted). */
  stopped: () => boolean;
  /**
   * Tenants the walk matched to a customer, so not "never named" at the end (in typed arrays, ~45
   * bytes a tenant: io/id-map.ts).
   */
  claimed: IdMap;
  /**
   * Unbound tenants a customer's `tenantId` hint linked in this run, to that customer (a second
   * customer naming one is a duplicate, as in one pass).
   */
  linked: Map<string, string>;
  progress: { checked: number; total: number; drifting: number; fixes: number };
}
