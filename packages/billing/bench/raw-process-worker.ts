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
 * Env: PORT, DATABASE_URL, BASELINE_SCHEMA, BASELINE_POOL_MAX, BASELINE_WORKERS, BASELINE_POLL_MS,
 * STRIPE_API_BASE, STRIPE_SECRET_KEY.
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

async function processOne(): Promise<boolean> {
  const claimed = await pool.query<{ event_id: string; customer_id: string; tenant_id: string }>(CLAIM);
  const row = claimed.rows[0];
  if (!row) return false;
  const subs = await listSubscriptions(row.customer_id);
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

http
  .createServer((_req, res) => res.writeHead(200).end('ok'))
  .listen(Number(process.env.PORT), '127.0.0.1', () => {
    for (let i = 0; i < Number(process.env.BASELINE_WORKERS ?? 64); i += 1) void loop();
  });
