import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

/**
 * The bare baselines for webhook ingest: node:http, the Stripe-Signature HMAC checked with
 * node:crypto, the event's id, type and customer read from the body, and a bare pg pool. Nothing
 * else: no framework, no validation beyond the signature, no processing. Two modes
 * (BASELINE_MODE):
 * - `group` (default, the reference): group commit into the same inbox table our server writes
 *   (processed_stripe_events of a migrated schema): a delivery that arrives while
 *   BASELINE_SLOTS (default 1, as our accept path) statements are in flight waits, and the next free
 *   slot inserts every waiting delivery in one multi-row INSERT … ON CONFLICT DO NOTHING (up to 500);
 *   each request answers after the statement holding its row committed. What a competent engineer
 *   writes once they know group commit.
 * - `single`: one INSERT … ON CONFLICT DO NOTHING per delivery into a table of its own (the first
 *   baseline, kept for comparison).
 * Env: PORT, DATABASE_URL, BASELINE_SCHEMA, STRIPE_WEBHOOK_SECRET, BASELINE_POOL_MAX, BASELINE_MODE,
 * BASELINE_SLOTS.
 */
const secret = process.env.STRIPE_WEBHOOK_SECRET!;
const schema = process.env.BASELINE_SCHEMA!;
const mode = process.env.BASELINE_MODE === 'single' ? 'single' : 'group';
const slots = Number(process.env.BASELINE_SLOTS ?? 1);
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BASELINE_POOL_MAX ?? 10),
  options: `-c search_path="${schema}"`,
});
if (mode === 'single')
  await pool.query(
    `CREATE TABLE IF NOT EXISTS raw_inbox (event_id text PRIMARY KEY, type text NOT NULL, payload jsonb NOT NULL,
       received_at timestamptz NOT NULL DEFAULT now())`,
  );

function verified(body: string, header: string | undefined): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!parts.v1 || !(Math.abs(Date.now() / 1000 - t) <= 300)) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface Delivery {
  id: string;
  type: string;
  created: number;
  customer: string | null;
  body: string;
  done(ok: boolean): void;
}

const GROUP_INSERT = `
  INSERT INTO processed_stripe_events
    (event_id, type, status, stripe_created_at, payload, customer_id, queue_key, next_attempt_at)
  SELECT r.event_id, r.type, 'pending', to_timestamp(r.created)::timestamp(3), r.payload::jsonb, r.customer,
         COALESCE(r.customer, r.event_id), now()
    FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[])
         AS r(event_id, type, created, customer, payload)
  ORDER BY r.event_id
  ON CONFLICT (event_id) DO NOTHING`;

const waiting: Delivery[] = [];
let inFlight = 0;

function pump(): void {
  while (inFlight < slots && waiting.length > 0) {
    const batch = waiting.splice(0, 500);
    inFlight += 1;
    pool
      .query(GROUP_INSERT, [
        batch.map((d) => d.id),
        batch.map((d) => d.type),
        batch.map((d) => d.created),
        batch.map((d) => d.customer),
        batch.map((d) => d.body),
      ])
      .then(
        () => batch.forEach((d) => d.done(true)),
        () => batch.forEach((d) => d.done(false)),
      )
      .finally(() => {
        inFlight -= 1;
        pump();
      });
  }
}

function record(delivery: Delivery): void {
  if (mode === 'group') {
    waiting.push(delivery);
    pump();
    return;
  }
  pool
    .query('INSERT INTO raw_inbox (event_id, type, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      delivery.id,
      delivery.type,
      delivery.body,
    ])
    .then(
      () => delivery.done(true),
      () => delivery.done(false),
    );
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (!verified(body, req.headers['stripe-signature'] as string | undefined)) {
      res.writeHead(400).end();
      return;
    }
    const event = JSON.parse(body) as {
      id: string;
      type: string;
      created: number;
      data: { object: { customer?: unknown } };
    };
    const customer = event.data.object.customer;
    record({
      id: event.id,
      type: event.type,
      created: event.created,
      customer: typeof customer === 'string' ? customer : null,
      body,
      done: (ok) =>
        ok
          ? res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}')
          : res.writeHead(500).end(),
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
// A graceful exit on SIGTERM (the bench's BENCH_CPU_PROF writes the profile on exit).
process.on('SIGTERM', () => process.exit(0));
