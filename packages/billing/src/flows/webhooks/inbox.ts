import type { PrismaClient } from '@packages/db';
import { ValidationError, WebhookEventNotFoundError } from '../../core/errors.js';
import { stateFromJson, type TenantRow } from '../../io/tenant-store/index.js';
import type { TenantFeatureState } from '../../core/index.js';
import type { VerifiedEvent } from './event.js';

/**
 * The webhook inbox: `processed_stripe_events`, one row per Stripe event id. A verified delivery is
 * stored `pending` in one statement; workers claim the due rows of one queue (a customer) at a time
 * with FOR UPDATE SKIP LOCKED and a lease, so a killed worker's events become claimable again once
 * the lease runs out. Every statement here is a single round trip; none is held across Stripe.
 */

export type InboxStatus = 'pending' | 'processing' | 'processed' | 'ignored' | 'failed';

export interface StoredEvent {
  id: string;
  type: string;
  created: number;
  object: Record<string, unknown>;
}

export type AcceptOutcome =
  /** Stored for the first time. */
  | { kind: 'new' }
  /** Already stored and finished, being processed, or stored and not tried yet: nothing to do. */
  | { kind: 'duplicate'; status: InboxStatus; action: string | null }
  /** Stored earlier and not processed after a failure: due again now (a redelivery is a retry). */
  | { kind: 'revived' };

export interface AcceptInput {
  event: VerifiedEvent;
  customerId: string | null;
  /** Finished at once (an event type the handler does not act on): stored `ignored` with this action. */
  ignoredAction?: string;
}

/** One accept: a single-row `acceptEvents` (what the handler's accept batcher sends many of at once). */
export async function acceptEvent(prisma: PrismaClient, input: AcceptInput): Promise<AcceptOutcome> {
  const [outcome] = await acceptEvents(sqlThroughPrisma(prisma), [input]);
  return outcome!;
}

export { sqlThroughPool, sqlThroughPrisma, type RunSql, type SqlPool } from '../../io/sql-runner.js';
import { sqlThroughPrisma, type RunSql } from '../../io/sql-runner.js';

interface AcceptedRow {
  event_id: string;
  inserted: boolean;
  status: InboxStatus;
  action: string | null;
  processing_attempts: number;
}

const ACCEPT_SQL = `
  INSERT INTO processed_stripe_events
    (event_id, type, status, action, stripe_created_at, attempts, payload, customer_id, queue_key,
     next_attempt_at, processed_at)
  SELECT r.event_id, r.type, r.status::"EventStatus", r.action, r.stripe_created_at::timestamp(3),
         r.attempts, r.payload, r.customer_id, r.queue_key, now(), r.processed_at::timestamp(3)
  FROM jsonb_to_recordset($1::jsonb) AS r(
    event_id text, type text, status text, action text, stripe_created_at text, attempts int,
    payload jsonb, customer_id text, queue_key text, processed_at text)
  -- One order for every statement: two that upsert the same events (two servers, redeliveries) lock
  -- their rows in the same order and wait for each other instead of deadlocking.
  ORDER BY r.event_id
  ON CONFLICT (event_id) DO UPDATE SET
    attempts = processed_stripe_events.attempts + EXCLUDED.attempts,
    status = CASE WHEN processed_stripe_events.status = 'failed' THEN 'pending'::"EventStatus"
                  ELSE processed_stripe_events.status END,
    next_attempt_at = CASE WHEN processed_stripe_events.status IN ('failed', 'pending') THEN now()
                           ELSE processed_stripe_events.next_attempt_at END,
    payload = COALESCE(processed_stripe_events.payload, EXCLUDED.payload)
  RETURNING event_id, (xmax = 0) AS inserted, status::text AS status, action, processing_attempts`;

/**
 * Stores many verified deliveries in ONE autocommit statement (one commit, one WAL flush), with the
 * outcome each would have had alone, in `inputs` order. Each row's upsert is the single-event one:
 * insert `pending` (or `ignored`), or on conflict count the delivery and revive a failed try.
 * ON CONFLICT DO UPDATE cannot touch one row twice in a statement, so deliveries of one event id are
 * written once (the first one's content, as a sequence of accepts would keep it) with their count
 * added to `attempts`; the first gets the row's outcome, the others what a later accept of the same
 * event gets (never `new`). A failed statement stores none of them and throws.
 */
export async function acceptEvents(sql: RunSql, inputs: AcceptInput[]): Promise<AcceptOutcome[]> {
  const distinct = new Map<string, { input: AcceptInput; deliveries: number }>();
  for (const input of inputs) {
    const same = distinct.get(input.event.id);
    if (same) same.deliveries += 1;
    else distinct.set(input.event.id, { input, deliveries: 1 });
  }
  const now = new Date().toISOString();
  const records = [...distinct.values()].map(
    ({ input: { event, customerId, ignoredAction }, deliveries }) => ({
      event_id: event.id,
      type: event.type,
      status: ignoredAction === undefined ? 'pending' : 'ignored',
      action: ignoredAction ?? null,
      stripe_created_at: event.created.toISOString(),
      attempts: deliveries,
      payload: {
        id: event.id,
        type: event.type,
        created: Math.floor(event.created.getTime() / 1000),
        object: event.object,
      } satisfies StoredEvent,
      customer_id: customerId,
      queue_key: customerId ?? event.id,
      processed_at: ignoredAction === undefined ? null : now,
    }),
  );
  const rows = await sql<AcceptedRow>(ACCEPT_SQL, [storable(records)]);
  const byId = new Map(rows.map((row) => [row.event_id, row]));
  const answered = new Set<string>();
  return inputs.map(({ event }) => {
    const row = byId.get(event.id);
    if (!row) throw new Error(`event ${event.id} was not stored`);
    const first = !answered.has(event.id);
    answered.add(event.id);
    if (row.inserted && first) return { kind: 'new' };
    if (row.status === 'pending' && row.processing_attempts > 0) return { kind: 'revived' };
    return { kind: 'duplicate', status: row.status, action: row.action };
  });
}

/**
 * JSON text PostgreSQL's jsonb accepts: it refuses the NUL character (\u0000) and a lone UTF-16
 * surrogate (\ud800–\udfff without its pair, which JSON.stringify writes as an escape), and a signed
 * but hostile body may carry either in any string. Such strings are junk to every reader (no Stripe
 * id or tenant id contains one), so the character is stored as U+FFFD instead of failing the delivery.
 */
function storable(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g, '$1\\ufffd');
}

export interface ClaimedEvent {
  eventId: string;
  type: string;
  event: VerifiedEvent;
  /** Processing tries including this one. */
  processingAttempts: number;
}

export interface ClaimedQueue {
  /** The claim's read ticket: taken before any Stripe read for these events; also fences the lease. */
  ticket: bigint;
  queueKey: string;
  customerId: string | null;
  /** Oldest first (Stripe's `created`, then arrival). */
  events: ClaimedEvent[];
  /** The tenant linked to the customer, with its config, as read in the claim. */
  tenant: TenantRow | null;
  state: TenantFeatureState | null;
}

export interface ClaimOptions {
  leaseMs: number;
  /** Only this queue (a request processing its own customer's events). */
  queueKey?: string;
  /** At most this many events in one claim (default 500). */
  maxEvents?: number;
}

interface ClaimRow {
  ticket: bigint | string;
  queue_key: string;
  customer_id: string | null;
  events: { event_id: string; type: string; payload: StoredEvent | null; processing_attempts: number }[];
  tenant_id: string | null;
  tenant_name: string | null;
  tenant_customer: string | null;
  config: unknown;
}

/**
 * One statement: picks the oldest due queue that no live lease holds (SKIP LOCKED, so concurrent
 * claimers never wait for each other), leases all its due events with one new read ticket, and
 * returns them with the customer's tenant and config. Pending events are due at `next_attempt_at`;
 * processing events whose lease ran out (a killed worker) are due again.
 */
export async function claimQueue(sql: RunSql, options: ClaimOptions): Promise<ClaimedQueue | null> {
  return (await claimQueues(sql, { ...options, maxQueues: 1 }))[0] ?? null;
}

/**
 * $1 the one queue to claim (or null: any), $2 most queues, $3 most events per queue, $4 the lease
 * in ms. The queues under a live lease are read once into a hashed set (NOT IN over a subquery), so
 * the pick costs one pass over the due rows plus one over the leased ones: a NOT EXISTS per due row
 * was planned as a nested loop over every leased row (1,000 due × 512 leased rows: 60 ms).
 */
const CLAIM_SQL = `
    WITH pick AS (
      SELECT e.queue_key, e.next_attempt_at, e.received_at FROM processed_stripe_events e
      WHERE ((e.status = 'pending' AND e.next_attempt_at <= now())
          OR (e.status = 'processing' AND e.locked_until <= now()))
        AND ($1::text IS NULL OR e.queue_key = $1::text)
        -- Only a queue's oldest due event can be picked: two claimers racing on one customer both
        -- aim at that row, and the one that finds it locked skips the whole queue instead of
        -- leasing the customer's newer events beside the other claim. (So a queue is picked at
        -- most once per statement, too.)
        AND NOT EXISTS (
          SELECT 1 FROM processed_stripe_events o
          WHERE o.queue_key = e.queue_key
            AND ((o.status = 'pending' AND o.next_attempt_at <= now())
              OR (o.status = 'processing' AND o.locked_until <= now()))
            AND (o.stripe_created_at, o.received_at, o.event_id) < (e.stripe_created_at, e.received_at, e.event_id))
        -- A queue under a live lease is being processed; its new events wait for the next claim.
        AND (e.queue_key IS NULL OR e.queue_key NOT IN (
          SELECT l.queue_key FROM processed_stripe_events l
          WHERE l.status = 'processing' AND l.locked_until > now() AND l.queue_key IS NOT NULL))
      ORDER BY e.next_attempt_at NULLS FIRST, e.received_at
      LIMIT $2::int
      FOR UPDATE SKIP LOCKED
    ), ticket AS (
      -- One read ticket per queue, taken in the claim, before any Stripe read for its events.
      SELECT p.queue_key, nextval('stripe_read_ticket') AS ticket FROM pick p
    ), batch AS (
      SELECT b.event_id, p.queue_key FROM pick p
      CROSS JOIN LATERAL (
        SELECT e.event_id FROM processed_stripe_events e
        WHERE e.queue_key = p.queue_key
          AND ((e.status = 'pending' AND e.next_attempt_at <= now())
            OR (e.status = 'processing' AND e.locked_until <= now()))
        ORDER BY e.stripe_created_at, e.received_at, e.event_id
        LIMIT $3::int
        FOR UPDATE SKIP LOCKED
      ) b
    ), claimed AS (
      UPDATE processed_stripe_events e
      SET status = 'processing', claim_ticket = t.ticket,
          locked_until = now() + $4::int * interval '1 millisecond',
          processing_attempts = e.processing_attempts + 1
      FROM batch JOIN ticket t ON t.queue_key = batch.queue_key
      WHERE e.event_id = batch.event_id
      RETURNING e.event_id, e.type, e.payload, e.processing_attempts, e.queue_key, e.customer_id,
                e.stripe_created_at, e.received_at, e.claim_ticket
    )
    SELECT c.claim_ticket AS ticket, c.queue_key, c.customer_id,
           json_agg(json_build_object('event_id', c.event_id, 'type', c.type, 'payload', c.payload,
                                      'processing_attempts', c.processing_attempts)
                    ORDER BY c.stripe_created_at, c.received_at, c.event_id) AS events,
           t.id AS tenant_id, t.name AS tenant_name, t.stripe_customer_id AS tenant_customer,
           (SELECT row_to_json(cfg) FROM tenant_feature_configs cfg WHERE cfg.tenant_id = t.id) AS config
    FROM claimed c
    JOIN pick p ON p.queue_key = c.queue_key
    LEFT JOIN tenants t ON t.stripe_customer_id = c.customer_id
    GROUP BY c.claim_ticket, c.queue_key, c.customer_id, t.id, t.name, t.stripe_customer_id,
             p.next_attempt_at, p.received_at
    ORDER BY p.next_attempt_at NULLS FIRST, p.received_at`;

/**
 * The same claim for up to `maxQueues` queues in one statement (a worker pool's dispatcher fills
 * its free slots with one round trip): the oldest due queues, each leased with its own read
 * ticket, oldest first. Every queue is claimed exactly as `claimQueue` claims one.
 */
export async function claimQueues(
  sql: RunSql,
  options: ClaimOptions & { maxQueues: number },
): Promise<ClaimedQueue[]> {
  const rows = await sql<ClaimRow>(CLAIM_SQL, [
    options.queueKey ?? null,
    Math.max(1, Math.floor(options.maxQueues)),
    options.maxEvents ?? 500,
    options.leaseMs,
  ]);
  return rows.map((row) => ({
    // bigint through Prisma, a decimal string through pg.
    ticket: BigInt(row.ticket),
    queueKey: row.queue_key,
    customerId: row.customer_id,
    events: row.events.map((e) => ({
      eventId: e.event_id,
      type: e.type,
      processingAttempts: e.processing_attempts,
      event: toVerified(e.event_id, e.type, e.payload),
    })),
    tenant: row.tenant_id
      ? { id: row.tenant_id, name: row.tenant_name!, stripeCustomerId: row.tenant_customer }
      : null,
    state: row.config ? stateFromJson(row.config) : null,
  }));
}

function toVerified(eventId: string, type: string, payload: StoredEvent | null): VerifiedEvent {
  // Rows stored before the inbox existed carry no payload; they were all processed in their request
  // and only come back through a replay, where an empty object leads to `unknown_tenant`.
  return {
    id: eventId,
    type,
    created: new Date((payload?.created ?? 0) * 1000),
    object: payload?.object ?? {},
  };
}

export interface FinishRow {
  eventId: string;
  status: 'processed' | 'ignored';
  action: string;
  tenantId: string | null;
  error?: string | null;
}

/** Marks claimed events done without a tenant write (unknown tenant, plan events); fenced by the claim ticket. */
export async function finishEvents(prisma: PrismaClient, ticket: bigint, rows: FinishRow[]): Promise<number> {
  const finished = rows.map((r) => ({
    event_id: r.eventId,
    status: r.status,
    action: r.action,
    tenant_id: r.tenantId,
    error: r.error ?? null,
  }));
  return prisma.$executeRaw`
    UPDATE processed_stripe_events e
    SET status = r.status::"EventStatus", action = r.action, tenant_id = r.tenant_id, error = r.error,
        processed_at = ${new Date().toISOString()}::timestamp(3), locked_until = NULL, next_attempt_at = NULL,
        last_error = NULL
    FROM jsonb_to_recordset(${JSON.stringify(finished)}::jsonb)
      AS r(event_id text, status text, action text, tenant_id text, error text)
    WHERE e.event_id = r.event_id AND e.status = 'processing' AND e.claim_ticket = ${ticket}::bigint`;
}

export interface RetryPolicy {
  /** Tries before an event is marked `failed` (default 8). */
  maxAttempts: number;
  /** First wait after a failure; doubles per try (default 1 s). */
  backoffBaseMs: number;
  /** Longest wait between tries (default 5 min). */
  backoffMaxMs: number;
}

/**
 * A failed try: back to `pending` after an exponential backoff, or `failed` with the reason once
 * the tries are used up. Never deleted: an admin lists and replays failed events.
 */
export async function retryLater(
  prisma: PrismaClient,
  ticket: bigint,
  eventIds: string[],
  error: string,
  policy: RetryPolicy,
): Promise<{ eventId: string; status: InboxStatus }[]> {
  return prisma.$queryRaw<{ eventId: string; status: InboxStatus }[]>`
    UPDATE processed_stripe_events
    SET status = CASE WHEN processing_attempts >= ${policy.maxAttempts}::int THEN 'failed'::"EventStatus"
                      ELSE 'pending'::"EventStatus" END,
        next_attempt_at = CASE WHEN processing_attempts >= ${policy.maxAttempts}::int THEN NULL
          ELSE now() + LEAST(${policy.backoffMaxMs}::float8,
                             ${policy.backoffBaseMs}::float8 * power(2, processing_attempts - 1))
                       * interval '1 millisecond' END,
        locked_until = NULL, last_error = ${error}
    WHERE event_id = ANY(${eventIds}::text[]) AND status = 'processing' AND claim_ticket = ${ticket}::bigint
    RETURNING event_id AS "eventId", status::text AS status`;
}

/** Gives claimed events back untried (a newer read won the race): due at once, the try not counted. */
export async function releaseEvents(prisma: PrismaClient, ticket: bigint, eventIds: string[]): Promise<void> {
  await prisma.$executeRaw`
    UPDATE processed_stripe_events
    SET status = 'pending', next_attempt_at = now(), locked_until = NULL,
        processing_attempts = GREATEST(processing_attempts - 1, 0)
    WHERE event_id = ANY(${eventIds}::text[]) AND status = 'processing' AND claim_ticket = ${ticket}::bigint`;
}

export interface LedgerRow {
  eventId: string;
  type: string;
  status: InboxStatus;
  action: string | null;
  tenantId: string | null;
  error: string | null;
  lastError: string | null;
  nextAttemptAt: Date | null;
}

export async function readLedgerRow(prisma: PrismaClient, eventId: string): Promise<LedgerRow | null> {
  const row = await prisma.processedStripeEvent.findUnique({
    where: { eventId },
    select: {
      eventId: true,
      type: true,
      status: true,
      action: true,
      tenantId: true,
      error: true,
      lastError: true,
      nextAttemptAt: true,
    },
  });
  return row;
}

// ---- Listing and replaying (admin API, console, CLI) ----

export interface InboxEvent {
  eventId: string;
  type: string;
  status: InboxStatus;
  action: string | null;
  tenantId: string | null;
  customerId: string | null;
  /** Deliveries received. */
  attempts: number;
  processingAttempts: number;
  lastError: string | null;
  error: string | null;
  stripeCreatedAt: Date;
  receivedAt: Date;
  processedAt: Date | null;
  nextAttemptAt: Date | null;
}

export interface ListInboxOptions {
  status?: InboxStatus;
  /** Page size, 1–500 (default 50). */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface InboxPage {
  events: InboxEvent[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

/** Newest first, keyset-paginated on (received_at, event_id): one statement per page. */
export async function listWebhookEvents(
  prisma: PrismaClient,
  options: ListInboxOptions = {},
): Promise<InboxPage> {
  const limit = Math.min(500, Math.max(1, Math.floor(options.limit ?? 50)));
  const cursor = options.cursor === undefined ? null : decodeCursor(options.cursor);
  // A cursor we did not hand out would otherwise read as "no cursor": the first page, silently.
  if (options.cursor !== undefined && !cursor) {
    throw new ValidationError('cursor is not a nextCursor of this list', [
      { path: 'cursor', message: 'must be the nextCursor of the previous page' },
    ]);
  }
  const rows = await prisma.processedStripeEvent.findMany({
    where: {
      ...(options.status ? { status: options.status } : {}),
      ...(cursor
        ? {
            OR: [
              { receivedAt: { lt: cursor.receivedAt } },
              { receivedAt: cursor.receivedAt, eventId: { gt: cursor.eventId } },
            ],
          }
        : {}),
    },
    orderBy: [{ receivedAt: 'desc' }, { eventId: 'asc' }],
    take: limit + 1,
    select: {
      eventId: true,
      type: true,
      status: true,
      action: true,
      tenantId: true,
      customerId: true,
      attempts: true,
      processingAttempts: true,
      lastError: true,
      error: true,
      stripeCreatedAt: true,
      receivedAt: true,
      processedAt: true,
      nextAttemptAt: true,
    },
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page,
    nextCursor: rows.length > limit && last ? encodeCursor(last.receivedAt, last.eventId) : null,
  };
}

function encodeCursor(receivedAt: Date, eventId: string): string {
  return Buffer.from(JSON.stringify([receivedAt.toISOString(), eventId])).toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: Date; eventId: string } | null {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const receivedAt = new Date(at);
    if (typeof id !== 'string' || Number.isNaN(receivedAt.getTime())) return null;
    return { receivedAt, eventId: id };
  } catch {
    return null;
  }
}

export type ReplaySelection = { eventIds: string[] } | { status: 'failed' };

export interface ReplayResult {
  /** Made due again (pending, tries reset); a worker or processPending picks them up. */
  replayed: string[];
  /** Ids with no stored event, or stored before the inbox kept payloads, or being processed now. */
  notReplayable: string[];
}

/**
 * Makes events due again. A processed event is re-run against Stripe's current truth, which is
 * harmless: every handler applies what Stripe says now. An event under a live lease is left alone.
 */
export async function replayWebhookEvents(
  prisma: PrismaClient,
  selection: ReplaySelection,
): Promise<ReplayResult> {
  const ids = 'eventIds' in selection ? [...new Set(selection.eventIds)] : null;
  const rows = await prisma.$queryRaw<{ event_id: string }[]>`
    UPDATE processed_stripe_events
    SET status = 'pending', next_attempt_at = now(), locked_until = NULL, processing_attempts = 0,
        last_error = NULL
    WHERE payload IS NOT NULL
      AND (${ids}::text[] IS NULL OR event_id = ANY(${ids ?? []}::text[]))
      AND (${ids}::text[] IS NOT NULL OR status = 'failed')
      AND NOT (status = 'processing' AND locked_until > now())
    RETURNING event_id`;
  const replayed = rows.map((r) => r.event_id).sort();
  const done = new Set(replayed);
  return { replayed, notReplayable: (ids ?? []).filter((id) => !done.has(id)) };
}

/** Replays one event by id (the admin route); WebhookEventNotFoundError when no such event was received. */
export async function replayWebhookEvent(prisma: PrismaClient, eventId: string): Promise<ReplayResult> {
  const result = await replayWebhookEvents(prisma, { eventIds: [eventId] });
  if (result.replayed.length === 0 && (await prisma.processedStripeEvent.count({ where: { eventId } })) === 0)
    throw new WebhookEventNotFoundError(eventId);
  return result;
}

export interface InboxStats {
  pending: number;
  processing: number;
  failed: number;
  /** Age of the oldest pending event, in ms (0 when none). */
  oldestPendingMs: number;
}

/** Queue depth for metrics and health: one statement over the claim indexes. */
export async function inboxStats(prisma: PrismaClient): Promise<InboxStats> {
  const rows = await prisma.$queryRaw<
    { pending: number; processing: number; failed: number; oldest_ms: number | null }[]
  >`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'processing')::int AS processing,
           count(*) FILTER (WHERE status = 'failed')::int AS failed,
           (extract(epoch FROM now() - ((min(received_at) FILTER (WHERE status = 'pending')) AT TIME ZONE 'UTC'))
             * 1000)::float8 AS oldest_ms
    FROM processed_stripe_events WHERE status IN ('pending', 'processing', 'failed')`;
  const row = rows[0]!;
  return {
    pending: row.pending,
    processing: row.processing,
    failed: row.failed,
    oldestPendingMs: Math.max(0, row.oldest_ms ?? 0),
  };
}
