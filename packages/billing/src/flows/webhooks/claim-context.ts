import type { PrismaClient } from '@packages/db';
import type Stripe from 'stripe';
import type { TrialWillEndInfo, WebhookFeatureSync, WebhookLog } from './handler-types.js';
import type { StripeFactReader } from './stripe-facts.js';
import type { WebhookWrites } from './writes.js';

/** What became of one claimed event. */
export interface EventOutcome {
  eventId: string;
  type: string;
  status: 'processed' | 'ignored' | 'unknown_tenant';
  action: string;
  tenantId: string | null;
  /** Stripe's `created`, for the processing lag. */
  created: Date;
}

export type QueueOutcome =
  | { kind: 'done'; events: EventOutcome[] }
  /** A newer read was written first, or the lease ran out: the events are (or will be) tried again. */
  | { kind: 'released' };

/** Receives what is left to do after a commit (cache publish, then hooks); never rejects on hook errors. */
export type AfterCommit = (tail: Promise<void>) => void;

/** Everything processing a claim needs, built once per pipeline. */
export interface ClaimContext {
  stripe: Stripe;
  prisma: PrismaClient;
  featureSync: WebhookFeatureSync;
  graceMs: number;
  now: () => Date;
  log: WebhookLog;
  onTrialWillEnd?: (info: TrialWillEndInfo) => Promise<void> | void;
  reapplyOnPlanChange: boolean;
  reads: StripeFactReader;
  writes: WebhookWrites;
}

/** Every write of the worker is audited as Stripe's, through the webhook. */
export const AUDIT = { actor: 'stripe', source: 'webhook' } as const;

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
