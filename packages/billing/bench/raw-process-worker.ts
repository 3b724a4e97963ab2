import http from 'node:http';
import pg from 'pg';

/**
 * The raw-`pg` baseline for webhook processing: `BASELINE_WORKERS` loops over a bare pg pool, each
 * taking one pending inbox row at a time and doing the same database work our workers do for a
 * subscription event, in the fewest statements, plus the same Stripe read over bare HTTP:
 *   1. claim: one UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING the event, its
 *      customer and the customer's tenant;
 *   2. read the customer's subscriptions from the Stripe API (GET /v1/subscriptions?customer=…
 *      &status=all&limit=100, keep-alive, no SDK, no rate limiter);
 *   3. write: one statement upserting the tenant's config (status, price, subscription, version + 1),
 *      inserting an audit row and marking the inbox row processed.
 * No read tickets, no leases checked at write time, no cache publish, no plan resolution: the floor
 * for this database work. Idle loops poll every BASELINE_POLL_MS. A GET answers 200 (readiness).
 *
 * BASELINE_MODE=batched (the reference since issue 26) is the batched design a competent engineer
 * writes for the same work: one dispatcher claims as many rows as there are free slots
 * (BASELINE_WORKERS) in ONE statement, each claimed event's Stripe read runs at once, and the writes
 * are group-committed: writes that become ready while one write statement is in flight go together
 * in the next one (config upserts, audit rows and inbox rows for all of them; a tenant at most once
 * per statement). The default (`loops`) is the first baseline, one row per claim per loop.
 * Env: PORT, DATABASE_URL, BASELINE_SCHEMA, BASELINE_POOL_MAX, BASELINE_WORKERS, BASELINE_POLL_MS,
 * BASELINE_MODE, STRIPE_API_BASE, STRIPE_SECRET_KEY.
 */
const schema = process.env.BASELINE_SCHEMA!;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BASELINE_POOL_MAX ?? 10),
  options: `-c search_path="${schema}"`,
});
const stripeBase = new URL(process.env.STRIPE_API_BASE!);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const poll = Number(process.env.BASELINE_POLL_MS ?? 250);

const CLAIM = `
  UPDATE processed_stripe_events e
  SET status = 'processing', locked_until = now() + interval '60 seconds',
      processing_attempts = e.processing_attempts + 1
  FROM (SELECT event_id FROM processed_stripe_events
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, received_at LIMIT 1 FOR UPDATE SKIP LOCKED) pick
  WHERE e.event_id = pick.event_id
  RETURNING e.event_id, e.customer_id,
            (SELECT id FROM tenants t WHERE t.stripe_customer_id = e.customer_id) AS tenant_id`;

const WRITE = `
  WITH cfg AS (
    INSERT INTO tenant_feature_configs
      (tenant_id, stripe_subscription_id, subscription_status, stripe_price_id, access_active, version, updated_at)
    VALUES ($1, $2, $3, $4, $5, 1, now())
    ON CONFLICT (tenant_id) DO UPDATE SET
      stripe_subscription_id = EXCLUDED.stripe_subscription_id, subscription_status = EXCLUDED.subscription_status,
      stripe_price_id = EXCLUDED.stripe_price_id, access_active = EXCLUDED.access_active,
      version = tenant_feature_configs.version + 1, updated_at = now()
    RETURNING tenant_id
  ), audit AS (
    INSERT INTO feature_audit_logs (tenant_id, actor, source, action, after, stripe_event_id)
    SELECT $1, 'stripe', 'webhook', 'plan_applied', $6::jsonb, $7 FROM cfg
  )
  UPDATE processed_stripe_events SET status = 'processed', action = 'plan_applied', tenant_id = $1,
    processed_at = now(), locked_until = NULL, next_attempt_at = NULL
  WHERE event_id = $7`;

interface Sub {
  id: string;
  status: string;
  items: { data: { price: { id: string } }[] };
}

function listSubscriptions(customerId: string): Promise<Sub[]> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: stripeBase.hostname,
        port: stripeBase.port,
        path: `/v1/subscriptions?customer=${encodeURIComponent(customerId)}&status=all&limit=100`,
        headers: { authorization: `Bearer ${process.env.STRIPE_SECRET_KEY}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`Stripe ${res.statusCode}`));
          resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: Sub[] }).data);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * A claimed row whose Stripe read failed is handed back at once (the claim only takes `pending`
 * rows, so without this a transient error would leave it `processing` for good and the bench would
 * wait for it forever).
 */
const RELEASE = `UPDATE processed_stripe_events SET status = 'pending', locked_until = NULL WHERE event_id = $1`;

async function readOrRelease(row: { event_id: string; customer_id: string }): Promise<Sub[]> {
  try {
    return await listSubscriptions(row.customer_id);
  } catch (error) {
    await pool.query(RELEASE, [row.event_id]);
    throw error;
  }
}

async function processOne(): Promise<boolean> {
  const claimed = await pool.query<{ event_id: string; customer_id: string; tenant_id: string }>(CLAIM);
  const row = claimed.rows[0];
  if (!row) return false;
  const subs = await readOrRelease(row);
  const sub = subs.find((s) => s.status === 'active' || s.status === 'trialing' || s.status === 'past_due');
  const chosen = sub ?? subs[0];
  const priceId = chosen?.items.data[0]?.price.id ?? null;
  await pool.query(WRITE, [
    row.tenant_id,
    chosen?.id ?? null,
    chosen?.status ?? null,
    priceId,
    sub !== undefined,
    JSON.stringify({ subscriptionStatus: chosen?.status ?? null, stripePriceId: priceId }),
    row.event_id,
  ]);
  return true;
}

async function loop() {
  for (;;) {
    try {
      if (await processOne()) continue;
    } catch (error) {
      console.error(error);
    }
    await new Promise((resolve) => setTimeout(resolve, poll));
  }
}

// --- BASELINE_MODE=batched -------------------------------------------------------------------

const CLAIM_MANY = CLAIM.replace('LIMIT 1', 'LIMIT $1');

const WRITE_MANY = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[])
      AS i(tenant_id, subscription_id, status, price_id, active, after, event_id)
  ), cfg AS (
    INSERT INTO tenant_feature_configs
      (tenant_id, stripe_subscription_id, subscription_status, stripe_price_id, access_active, version, updated_at)
    SELECT tenant_id, subscription_id, status, price_id, active, 1, now() FROM input ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET
      stripe_subscription_id = EXCLUDED.stripe_subscription_id, subscription_status = EXCLUDED.subscription_status,
      stripe_price_id = EXCLUDED.stripe_price_id, access_active = EXCLUDED.access_active,
      version = tenant_feature_configs.version + 1, updated_at = now()
    RETURNING tenant_id
  ), audit AS (
    INSERT INTO feature_audit_logs (tenant_id, actor, source, action, after, stripe_event_id)
    SELECT i.tenant_id, 'stripe', 'webhook', 'plan_applied', i.after::jsonb, i.event_id
      FROM input i JOIN cfg ON cfg.tenant_id = i.tenant_id
  )
  UPDATE processed_stripe_events e SET status = 'processed', action = 'plan_applied', tenant_id = i.tenant_id,
    processed_at = now(), locked_until = NULL, next_attempt_at = NULL
  FROM input i WHERE e.event_id = i.event_id`;

interface ReadyWrite {
  values: [string, string | null, string | null, string | null, boolean, string, string];
  done(): void;
}

const slots = Number(process.env.BASELINE_WORKERS ?? 64);
let active = 0;
let wake: (() => void) | undefined;
const readyWrites: ReadyWrite[] = [];
let writing = false;

function flushWrites(): void {
  if (writing || readyWrites.length === 0) return;
  // A tenant at most once per statement (ON CONFLICT cannot touch a row twice): later ones wait.
  const seen = new Set<string>();
  const batch: ReadyWrite[] = [];
  for (let i = 0; i < readyWrites.length;) {
    const write = readyWrites[i]!;
    if (seen.has(write.values[0])) {
      i += 1;
      continue;
    }
    seen.add(write.values[0]);
    batch.push(write);
    readyWrites.splice(i, 1);
  }
  writing = true;
  const column = (k: number) => batch.map((w) => w.values[k]);
  pool
    .query(WRITE_MANY, [column(0), column(1), column(2), column(3), column(4), column(5), column(6)])
    .then(
      () => batch.forEach((w) => w.done()),
      (error: unknown) => {
        console.error(error);
        batch.forEach((w) => w.done());
      },
    )
    .finally(() => {
      writing = false;
      flushWrites();
    });
}

async function processClaimed(row: { event_id: string; customer_id: string; tenant_id: string }) {
  try {
    const subs = await readOrRelease(row);
    const sub = subs.find((s) => s.status === 'active' || s.status === 'trialing' || s.status === 'past_due');
    const chosen = sub ?? subs[0];
    const priceId = chosen?.items.data[0]?.price.id ?? null;
    await new Promise<void>((done) => {
      readyWrites.push({
        values: [
          row.tenant_id,
          chosen?.id ?? null,
          chosen?.status ?? null,
          priceId,
          sub !== undefined,
          JSON.stringify({ subscriptionStatus: chosen?.status ?? null, stripePriceId: priceId }),
          row.event_id,
        ],
        done,
      });
      flushWrites();
    });
  } catch (error) {
    console.error(error);
  } finally {
    active -= 1;
    wake?.();
  }
}

async function dispatch() {
  for (;;) {
    const free = slots - active;
    let claimed = 0;
    if (free > 0) {
      try {
        const result = await pool.query<{ event_id: string; customer_id: string; tenant_id: string }>(
          CLAIM_MANY,
          [free],
        );
        claimed = result.rows.length;
        active += claimed;
        for (const row of result.rows) void processClaimed(row);
      } catch (error) {
        console.error(error);
      }
    }
    // Claim again when a slot frees up (or after the poll interval when nothing was due).
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, claimed === free && free > 0 ? 0 : poll);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = undefined;
  }
}

http
  .createServer((_req, res) => res.writeHead(200).end('ok'))
  .listen(Number(process.env.PORT), '127.0.0.1', () => {
    if (process.env.BASELINE_MODE === 'batched') void dispatch();
    else for (let i = 0; i < Number(process.env.BASELINE_WORKERS ?? 64); i += 1) void loop();
  });
// A graceful exit on SIGTERM (the bench's BENCH_CPU_PROF writes the profile on exit).
process.on('SIGTERM', () => process.exit(0));
