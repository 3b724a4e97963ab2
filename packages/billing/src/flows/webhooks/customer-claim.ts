import { foldEvents, type Fold, type RuledEvent } from '../../core/index.js';
import { refsOf } from './event.js';
import { handlerOf } from './events/index.js';
import { finishEvents, releaseEvents, type ClaimedQueue, type FinishRow } from './inbox.js';
import { matchTenant, type TenantMatch } from './tenant-match.js';
import {
  AUDIT,
  describe,
  type AfterCommit,
  type ClaimContext,
  type EventOutcome,
  type QueueOutcome,
} from './claim-context.js';

/**
 * One customer's claimed events, setup → decide → write: the tenant they belong to and one Stripe
 * read for all of them; the pure fold of every event in order; one write statement that stores the
 * result and marks the events done, fenced by the claim's read ticket. Throws on a failure (the
 * caller schedules the retry).
 */
export async function processCustomerClaim(
  ctx: ClaimContext,
  claim: ClaimedQueue,
  afterCommit?: AfterCommit,
): Promise<QueueOutcome> {
  // Setup: the events this pipeline acts on, whose they are, and what Stripe says now.
  const { events, hints, unhandled } = sortClaim(claim);
  if (unhandled.length > 0) await finishEvents(ctx.prisma, claim.ticket, unhandled);
  if (events.length === 0)
    return done(claim.events.map(({ event }) => outcome(event, 'ignored', 'unhandled_event_type', null)));
  const match = await matchTenant(ctx.prisma, claim, hints, ctx.reads.customerTenantHint);
  if ('unknown' in match) return finishUnmatched(ctx, claim, events, match);
  const { tenantId } = match;
  const facts = await ctx.reads.readFacts(events, claim.customerId!, match.state);

  // Decide and write: a config changed by another writer meanwhile is folded again, without a new read.
  let fold!: Fold;
  const result = await ctx.writes.writeOnCurrent(tenantId, match.state, (state) => {
    fold = foldEvents({ tenantId, start: state, events, facts, now: ctx.now(), graceMs: ctx.graceMs });
    return {
      tenantId,
      ticket: claim.ticket,
      expectedVersion: state?.version ?? 0,
      next: fold.next,
      audits: fold.steps,
      ...AUDIT,
      linkCustomerId: match.link,
      events: fold.finished.map((f) => ({ ...f, tenantId })),
    };
  });
  switch (result.status) {
    case 'written':
      break;
    case 'lease_lost':
      return { kind: 'released' };
    case 'tenant_not_found': // deleted while we read Stripe: the next claim records the events as unknown_tenant
    case 'stale_ticket': // a read that started after ours was written first: tried again with a new ticket, not counted
      await releaseEvents(
        ctx.prisma,
        claim.ticket,
        events.map(({ event }) => event.id),
      );
      return { kind: 'released' };
    case 'kept_changing':
    case 'nothing_to_write':
      throw new Error(`tenant ${tenantId} kept changing during the write`);
  }

  // After the commit: the cache publish, then the trial notices (handed to `afterCommit` when given:
  // a worker slot is free for its next customer at once).
  const published = result.state ? ctx.writes.publish(result.state) : Promise.resolve();
  const tail = published.then(() => runTrialHooks(ctx, fold.notices));
  if (afterCommit) afterCommit(tail);
  else await tail;
  return done(
    events.map(({ event }, i) =>
      outcome(event, fold.finished[i]!.status, fold.finished[i]!.action, tenantId),
    ),
  );
}

interface SortedClaim {
  events: RuledEvent[];
  /** The tenant id each event's metadata names, if any. */
  hints: (string | null)[];
  /** Types no rule handles (finished `ignored` at once). */
  unhandled: FinishRow[];
}

function sortClaim(claim: ClaimedQueue): SortedClaim {
  const sorted: SortedClaim = { events: [], hints: [], unhandled: [] };
  for (const { event } of claim.events) {
    const handler = handlerOf(event.type);
    if (handler?.queue !== 'customer') {
      sorted.unhandled.push({
        eventId: event.id,
        status: 'ignored',
        action: 'unhandled_event_type',
        tenantId: null,
      });
      continue;
    }
    const refs = refsOf(event);
    sorted.events.push({
      event: { id: event.id, type: event.type, created: event.created, subscriptionId: refs.subscriptionId },
      rule: handler.rule,
    });
    sorted.hints.push(refs.tenantIdHint);
  }
  return sorted;
}

function outcome(
  event: { id: string; type: string; created: Date },
  status: EventOutcome['status'],
  action: string,
  tenantId: string | null,
): EventOutcome {
  return { eventId: event.id, type: event.type, status, action, tenantId, created: event.created };
}

const done = (events: EventOutcome[]): QueueOutcome => ({ kind: 'done', events });

/** Events of a customer that matches no tenant: recorded as such, with the reason. */
async function finishUnmatched(
  ctx: ClaimContext,
  claim: ClaimedQueue,
  events: RuledEvent[],
  match: Extract<TenantMatch, { unknown: string }>,
): Promise<QueueOutcome> {
  const first = events[0]!.event;
  ctx.log('stripe event matches no tenant', {
    level: 'warn',
    eventId: first.id,
    type: first.type,
    reason: match.unknown,
  });
  const rows = events.map(({ event }) => ({
    eventId: event.id,
    status: 'ignored' as const,
    action: match.action,
    tenantId: null,
    error: match.unknown,
  }));
  const finished = await finishEvents(ctx.prisma, claim.ticket, rows);
  if (finished !== rows.length) return { kind: 'released' };
  return done(events.map(({ event }) => outcome(event, 'unknown_tenant', match.action, null)));
}

async function runTrialHooks(ctx: ClaimContext, notices: Fold['notices']) {
  const hook = ctx.onTrialWillEnd;
  if (!hook) return;
  for (const { eventId, notice } of notices) {
    try {
      await hook(notice);
    } catch (error) {
      ctx.log('onTrialWillEnd hook failed', {
        level: 'error',
        eventId,
        tenantId: notice.tenantId,
        error: describe(error),
      });
    }
  }
}
