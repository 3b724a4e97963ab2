import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

/**
 * The raw-`pg` baseline for webhook ingest: bare node:http, the Stripe-Signature HMAC checked with
 * node:crypto, and one INSERT … ON CONFLICT DO NOTHING per event through a bare pg pool. Nothing
 * else: no framework, no validation beyond the signature, no processing. Env: PORT, DATABASE_URL,
 * BASELINE_SCHEMA, STRIPE_WEBHOOK_SECRET, BASELINE_POOL_MAX.
 */
const secret = process.env.STRIPE_WEBHOOK_SECRET!;
const schema = process.env.BASELINE_SCHEMA!;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BASELINE_POOL_MAX ?? 10),
  options: `-c search_path="${schema}"`,
});
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
    const event = JSON.parse(body) as { id: string; type: string };
    pool
      .query('INSERT INTO raw_inbox (event_id, type, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
        event.id,
        event.type,
        body,
      ])
      .then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}'),
        () => res.writeHead(500).end(),
      );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
