import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Obj, Store } from './store.js';

/** `Stripe-Signature` header value: HMAC-SHA256 of `${t}.${payload}`, exactly what stripe.webhooks verifies. */
export function signPayload(
  payload: string,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

/** Stripe sends events pretty-printed; the signature covers these exact bytes. */
export function eventPayload(event: Obj): string {
  return JSON.stringify(event, null, 2);
}

export interface DeliveryResult {
  status: number;
  body: string;
}

/** One POST; status 0 means the endpoint could not be reached at all. */
function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<DeliveryResult> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(
      target,
      {
        method: 'POST',
        // No keep-alive: the receiving test server must be able to close promptly.
        agent: false,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body), Connection: 'close' },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: String(err.message) }));
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WebhookConfig {
  url: string | null;
  secret: string;
  autoDeliver: boolean;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
}

/**
 * Sends events to the configured endpoint in creation order, one at a time,
 * like a single Stripe webhook endpoint. Failed events stay pending (Stripe
 * would retry for days; tests call deliverPendingEvents instead).
 */
export class WebhookDispatcher {
  private queue: string[] = [];
  private delivered = new Set<string>();
  private draining: Promise<void> | null = null;
  private closed = false;

  constructor(
    private store: Store,
    readonly config: WebhookConfig,
  ) {}

  configure(url: string | null, options: { secret?: string; autoDeliver?: boolean } = {}): void {
    this.config.url = url;
    if (options.secret !== undefined) this.config.secret = options.secret;
    this.config.autoDeliver = options.autoDeliver ?? url !== null;
  }

  /** Endpoints an event will be sent to, for the event's `pending_webhooks`. */
  endpointCount(): number {
    return this.config.url ? 1 : 0;
  }

  onEvent(event: Obj): void {
    if (this.closed || !this.config.url || !this.config.autoDeliver) return;
    this.queue.push(event.id as string);
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length && !this.closed) {
        const id = this.queue.shift()!;
        for (let attempt = 1; attempt <= this.config.attempts && !this.closed; attempt++) {
          if (!this.config.url) break;
          const { status } = await this.deliver(id);
          if (status >= 200 && status < 300) break;
          if (attempt < this.config.attempts) await sleep(this.config.backoffMs * attempt);
        }
      }
    } finally {
      this.draining = null;
    }
  }

  async deliver(
    eventId: string,
    options: { url?: string; timestamp?: number; secret?: string; timeoutMs?: number } = {},
  ): Promise<DeliveryResult> {
    const event = this.store.events.get(eventId);
    if (!event) throw new Error(`No such event: '${eventId}'`);
    const url = options.url ?? this.config.url;
    if (!url) throw new Error('No webhook URL configured; call setWebhookEndpoint(url) or pass { url }.');
    const payload = eventPayload(event);
    const result = await post(
      url,
      payload,
      {
        'Content-Type': 'application/json; charset=utf-8',
        'Stripe-Signature': signPayload(payload, options.secret ?? this.config.secret, options.timestamp),
        'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        Accept: '*/*; q=0.5, application/xml',
        'Cache-Control': 'no-cache',
      },
      options.timeoutMs ?? this.config.timeoutMs,
    );
    if (result.status >= 200 && result.status < 300 && !this.delivered.has(eventId)) {
      this.delivered.add(eventId);
      event.pending_webhooks = Math.max(0, (event.pending_webhooks as number) - 1);
    }
    return result;
  }

  async deliverPending(): Promise<Array<{ eventId: string; status: number }>> {
    await this.waitForDeliveries();
    if (!this.config.url) return [];
    const results: Array<{ eventId: string; status: number }> = [];
    for (const event of this.store.events.values().reverse()) {
      const id = event.id as string;
      if (this.delivered.has(id)) continue;
      const { status } = await this.deliver(id);
      results.push({ eventId: id, status });
    }
    return results;
  }

  async waitForDeliveries(): Promise<void> {
    while (this.draining) await this.draining;
  }

  isDelivered(eventId: string): boolean {
    return this.delivered.has(eventId);
  }

  reset(): void {
    this.queue = [];
    this.delivered.clear();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }
}
