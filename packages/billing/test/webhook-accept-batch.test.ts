import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { createAcceptBatcher } from '../src/flows/webhooks/accept-batcher.js';
import {
  acceptEvent,
  acceptEvents,
  sqlThroughPool,
  sqlThroughPrisma,
  type AcceptInput,
  type AcceptOutcome,
} from '../src/flows/webhooks/inbox.js';

// Group commit of the inbox (src/flows/webhooks/accept-batcher.ts) against the real database: deliveries
// that arrive while an insert is in flight share one statement, with the outcome each would have had
// alone, and a failed statement is retried delivery by delivery so only the one at fault fails.

let sequentialDb: Database;
let batchedDb: Database;
beforeAll(async () => {
  [sequentialDb, batchedDb] = await Promise.all([
    createIsolatedDatabase({ poolMax: 2, readPoolMax: 1 }),
    createIsolatedDatabase({ poolMax: 4, readPoolMax: 1 }),
  ]);
});
afterAll(async () => {
  await Promise.all([sequentialDb?.close(), batchedDb?.close()]);
});

const CREATED = new Date('2026-01-02T03:04:05.000Z');

function delivery(id: string, options: { customerId?: string | null; ignored?: boolean } = {}): AcceptInput {
  const customerId = options.customerId === undefined ? 'cus_batch' : options.customerId;
  return {
    event: {
      id,
      type: options.ignored ? 'charge.succeeded' : 'customer.subscription.updated',
      created: CREATED,
      object: { object: 'subscription', id: `sub_${id}`, customer: customerId, note: `payload of ${id}` },
    },
    customerId,
    ...(options.ignored ? { ignoredAction: 'unhandled_event_type' } : {}),
  };
}

/** Rows as a later reader sees them, without the clock-dependent columns. */
async function rowsOf(db: Database, prefix: string) {
  return db.pool
    .query(
      `SELECT event_id, type, status::text, action, attempts, processing_attempts, payload, customer_id,
              queue_key, stripe_created_at, processed_at IS NOT NULL AS finished,
              next_attempt_at <= now() AS due
         FROM processed_stripe_events WHERE event_id LIKE $1 ORDER BY event_id`,
      [`${prefix}%`],
    )
    .then((r) => r.rows);
}

/**
 * Rows in every state a redelivery can meet: failed (revived), waiting for a retry after a failed
 * try (revived), processed and processing (duplicates), ignored (duplicate with its action).
 */
async function seedStates(db: Database, p: string) {
  for (const id of ['failed', 'retry', 'done', 'busy']) await acceptEvent(db.prisma, delivery(`${p}${id}`));
  await acceptEvent(db.prisma, delivery(`${p}ign`, { customerId: null, ignored: true }));
  await db.pool.query(
    `UPDATE processed_stripe_events SET status = 'failed', processing_attempts = 8, last_error = 'boom'
      WHERE event_id = $1`,
    [`${p}failed`],
  );
  await db.pool.query(
    `UPDATE processed_stripe_events SET processing_attempts = 1, last_error = 'boom',
            next_attempt_at = now() + interval '1 hour' WHERE event_id = $1`,
    [`${p}retry`],
  );
  await db.pool.query(
    `UPDATE processed_stripe_events SET status = 'processed', action = 'subscription_synced',
            processing_attempts = 1, processed_at = now() WHERE event_id = $1`,
    [`${p}done`],
  );
  await db.pool.query(
    `UPDATE processed_stripe_events SET status = 'processing', processing_attempts = 1,
            locked_until = now() + interval '1 minute' WHERE event_id = $1`,
    [`${p}busy`],
  );
}

/** Every kind of delivery, each existing row and each new event more than once. */
const deliveries = (p: string): AcceptInput[] => [
  delivery(`${p}new1`),
  delivery(`${p}failed`),
  delivery(`${p}new1`),
  delivery(`${p}retry`),
  delivery(`${p}done`),
  delivery(`${p}busy`),
  delivery(`${p}failed`),
  delivery(`${p}nocus`, { customerId: null }),
  delivery(`${p}unh`, { customerId: null, ignored: true }),
  delivery(`${p}ign`, { customerId: null, ignored: true }),
  delivery(`${p}unh`, { customerId: null, ignored: true }),
  delivery(`${p}done`),
  delivery(`${p}new1`),
];

describe('accept batcher (group commit of the inbox)', () => {
  it('deliveries that wait behind an insert go as one statement, with the outcomes and rows of one accept at a time', async () => {
    const p = 'evt_same_';
    await seedStates(sequentialDb, p);
    await seedStates(batchedDb, p);

    const sequential: AcceptOutcome[] = [];
    for (const d of [delivery(`${p}lead`), ...deliveries(p)])
      sequential.push(await acceptEvent(sequentialDb.prisma, d));

    const batcher = createAcceptBatcher(sqlThroughPool(batchedDb.pool));
    const before = batchedDb.stats.queries;
    // The lead goes at once (nothing to wait for); the others arrive while it is in flight.
    const lead = batcher.accept(delivery(`${p}lead`));
    const rest = deliveries(p).map((d) => batcher.accept(d));
    const batched = await Promise.all([lead, ...rest]);
    expect(batchedDb.stats.queries - before).toBe(2);

    expect(batched).toEqual(sequential);
    // Spelled out, so the equality above cannot hold by both being wrong the same way.
    expect(batched).toEqual([
      { kind: 'new' },
      { kind: 'new' },
      { kind: 'revived' },
      { kind: 'duplicate', status: 'pending', action: null },
      { kind: 'revived' },
      { kind: 'duplicate', status: 'processed', action: 'subscription_synced' },
      { kind: 'duplicate', status: 'processing', action: null },
      { kind: 'revived' },
      { kind: 'new' },
      { kind: 'new' },
      { kind: 'duplicate', status: 'ignored', action: 'unhandled_event_type' },
      { kind: 'duplicate', status: 'ignored', action: 'unhandled_event_type' },
      { kind: 'duplicate', status: 'processed', action: 'subscription_synced' },
      { kind: 'duplicate', status: 'pending', action: null },
    ]);
    const rows = await rowsOf(batchedDb, p);
    expect(rows).toEqual(await rowsOf(sequentialDb, p));
    const byId = Object.fromEntries(rows.map((r) => [r.event_id.slice(p.length), r]));
    expect(byId.new1).toMatchObject({ attempts: 3, status: 'pending', due: true, queue_key: 'cus_batch' });
    expect(byId.new1.payload).toEqual({
      id: `${p}new1`,
      type: 'customer.subscription.updated',
      created: CREATED.getTime() / 1000,
      object: delivery(`${p}new1`).event.object,
    });
    expect(byId.failed).toMatchObject({ attempts: 3, status: 'pending', due: true, processing_attempts: 8 });
    expect(byId.retry).toMatchObject({ attempts: 2, status: 'pending', due: true });
    expect(byId.unh).toMatchObject({ attempts: 2, status: 'ignored', finished: true, queue_key: `${p}unh` });
    expect(byId.nocus).toMatchObject({ attempts: 1, queue_key: `${p}nocus`, customer_id: null });
  });

  it('many concurrent deliveries with repeats: one `new` per event, every delivery counted, batches bounded', async () => {
    const p = 'evt_many_';
    const batcher = createAcceptBatcher(sqlThroughPrisma(batchedDb.prisma), { maxBatch: 50 });
    const ids = Array.from({ length: 300 }, (_, i) => `${p}${(i * 7) % 40}`);
    const before = batchedDb.stats.queries;
    const outcomes = await Promise.all(ids.map((id) => batcher.accept(delivery(id))));
    const statements = batchedDb.stats.queries - before;
    // 1 (the first, alone) + ceil(299 / 50) at most 50 each.
    expect(statements).toBe(7);
    const news = new Map<string, number>();
    outcomes.forEach((o, i) => {
      if (o.kind === 'new') news.set(ids[i]!, (news.get(ids[i]!) ?? 0) + 1);
      else expect(o).toEqual({ kind: 'duplicate', status: 'pending', action: null });
    });
    expect(news.size).toBe(40);
    expect([...news.values()].every((n) => n === 1)).toBe(true);
    // The first delivery of each event is the one told `new`.
    for (const [id] of news) expect(outcomes[ids.indexOf(id)]).toEqual({ kind: 'new' });
    const rows = await rowsOf(batchedDb, p);
    expect(rows).toHaveLength(40);
    const deliveredTimes = (id: string) => ids.filter((x) => x === id).length;
    for (const row of rows) expect(row.attempts).toBe(deliveredTimes(row.event_id));
  });

  // Needs three sessions at once; the embedded PGlite has one.
  it.skipIf(!process.env.DATABASE_URL)(
    'two statements upserting the same events in opposite orders wait for each other instead of deadlocking',
    async () => {
      // Two servers on one inbox, each with a batch of the same redelivered events. A transaction
      // holds the middle row, so each statement locks the rows before it in its own order and waits.
      const p = 'evt_order_';
      const ids = Array.from({ length: 20 }, (_, i) => `${p}${String(i).padStart(2, '0')}`);
      for (const id of ids) await acceptEvent(batchedDb.prisma, delivery(id));
      const sql = sqlThroughPool(batchedDb.pool);
      const blocker = await batchedDb.pool.connect();
      let results: PromiseSettledResult<AcceptOutcome[]>[];
      try {
        const blockerPid = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        await blocker.query('BEGIN');
        await blocker.query('SELECT 1 FROM processed_stripe_events WHERE event_id = $1 FOR UPDATE', [
          ids[10],
        ]);
        const both = Promise.allSettled([
          acceptEvents(
            sql,
            ids.map((id) => delivery(id)),
          ),
          acceptEvents(
            sql,
            [...ids].reverse().map((id) => delivery(id)),
          ),
        ]);
        // Statements waiting on the blocker, or on a statement that waits on it. Polled from another
        // connection: inside the blocker's transaction the view would not change.
        const waiting = async () =>
          (
            await sequentialDb.pool.query(
              `WITH direct AS (SELECT pid FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid)))
             SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE pid IN (SELECT pid FROM direct) OR pg_blocking_pids(pid) && ARRAY(SELECT pid FROM direct)`,
              [blockerPid],
            )
          ).rows[0].n as number;
        for (let i = 0; i < 200 && (await waiting()) < 2; i++) await new Promise((r) => setTimeout(r, 10));
        expect(await waiting()).toBe(2);
        await blocker.query('COMMIT');
        results = await both;
      } finally {
        await blocker.query('ROLLBACK').catch(() => {});
        blocker.release();
      }
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect((await rowsOf(batchedDb, p)).map((r) => r.attempts)).toEqual(ids.map(() => 3));
    },
  );

  it('a statement that fails is tried again delivery by delivery: only the delivery that cannot be stored fails, with its error', async () => {
    const p = 'evt_fail_';
    const db = batchedDb;
    await db.pool.query(`CREATE OR REPLACE FUNCTION accept_fault_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NEW.event_id = '${p}poison' THEN RAISE EXCEPTION 'injected failure for ${p}poison'; END IF;
        RETURN NEW;
      END $fn$`);
    await db.pool.query(
      `CREATE TRIGGER accept_fault BEFORE INSERT ON processed_stripe_events
         FOR EACH ROW EXECUTE FUNCTION accept_fault_fn()`,
    );
    const batcher = createAcceptBatcher(sqlThroughPool(db.pool));
    let settled: PromiseSettledResult<AcceptOutcome>[];
    try {
      const lead = batcher.accept(delivery(`${p}lead`));
      const rest = ['ok1', 'poison', 'ok2', 'ok1'].map((id) => batcher.accept(delivery(`${p}${id}`)));
      settled = await Promise.allSettled([lead, ...rest]);
    } finally {
      await db.pool.query('DROP TRIGGER IF EXISTS accept_fault ON processed_stripe_events');
    }
    const [lead, ok1, poison, ok2, ok1Again] = settled;
    expect(lead).toEqual({ status: 'fulfilled', value: { kind: 'new' } });
    expect(ok1).toEqual({ status: 'fulfilled', value: { kind: 'new' } });
    expect(ok2).toEqual({ status: 'fulfilled', value: { kind: 'new' } });
    expect(ok1Again).toMatchObject({ status: 'fulfilled', value: { kind: 'duplicate', status: 'pending' } });
    expect(poison!.status).toBe('rejected');
    expect(String(((poison as PromiseRejectedResult).reason as Error).message)).toContain(
      `injected failure for ${p}poison`,
    );
    const rows = await rowsOf(db, p);
    expect(rows.map((r) => r.event_id)).toEqual([`${p}lead`, `${p}ok1`, `${p}ok2`]);
    expect(rows.find((r) => r.event_id === `${p}ok1`)?.attempts).toBe(2);

    // Stripe redelivers the one that failed; once it can be stored, it is.
    expect(await batcher.accept(delivery(`${p}poison`))).toEqual({ kind: 'new' });
  });

  it('a body with a NUL or a lone surrogate in a string is stored (as U+FFFD), not refused by jsonb', async () => {
    const p = 'evt_odd_';
    const batcher = createAcceptBatcher(sqlThroughPool(batchedDb.pool));
    const odd = (id: string, note: string): AcceptInput => {
      const input = delivery(`${p}${id}`);
      return { ...input, event: { ...input.event, object: { ...input.event.object, note } } };
    };
    const outcomes = await Promise.all([
      batcher.accept(odd('nul', 'a\u0000b')),
      batcher.accept(odd('high', 'a\ud800b')),
      batcher.accept(odd('low', '\udfff')),
      batcher.accept(odd('pair', 'ok \ud83d\ude00 and a literal \\ud800')),
    ]);
    expect(outcomes).toEqual(outcomes.map(() => ({ kind: 'new' })));
    const notes = Object.fromEntries(
      (await rowsOf(batchedDb, p)).map((r) => [
        r.event_id,
        (r.payload as { object: { note: string } }).object.note,
      ]),
    );
    expect(notes).toEqual({
      [`${p}nul`]: 'a\ufffdb',
      [`${p}high`]: 'a\ufffdb',
      [`${p}low`]: '\ufffd',
      [`${p}pair`]: 'ok \ud83d\ude00 and a literal \\ud800',
    });
  });
});
