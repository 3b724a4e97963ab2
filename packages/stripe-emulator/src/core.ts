import type { Ctx } from './context.js';
import { EventLog, NO_REQUEST, type RequestRef } from './events.js';
import { Faults, RequestCounter } from './faults.js';
import { IdempotencyStore } from './idempotency.js';
import { Store } from './store.js';
import { WebhookDispatcher, type WebhookConfig } from './webhooks.js';

export interface CoreOptions {
  apiKey: string;
  webhook: WebhookConfig;
  maxExpandDepth: number;
}

/** All mutable emulator state, independent of the HTTP server that exposes it. */
export class EmulatorCore {
  readonly store = new Store();
  readonly faults = new Faults();
  readonly counts = new RequestCounter();
  readonly idempotency = new IdempotencyStore();
  readonly webhooks: WebhookDispatcher;
  readonly events: EventLog;
  baseUrl = '';

  constructor(readonly options: CoreOptions) {
    this.webhooks = new WebhookDispatcher(this.store, options.webhook);
    this.events = new EventLog(
      this.store,
      () => this.webhooks.endpointCount(),
      (event) => this.webhooks.onEvent(event),
    );
  }

  ctx(request: RequestRef = NO_REQUEST): Ctx {
    return { store: this.store, events: this.events, baseUrl: this.baseUrl, request };
  }

  /** Object counts and the process's memory and CPU time, for sizing benchmarks. */
  stats(): { objects: Record<string, number>; rssBytes: number; heapUsedBytes: number; cpuMs: number } {
    const { store } = this;
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      objects: {
        customers: store.customers.size,
        subscriptions: store.subscriptions.size,
        invoices: store.invoices.size,
        events: store.events.size,
      },
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    };
  }

  /** Clears objects, events, counts, faults and idempotency keys; the webhook endpoint config stays. */
  reset(): void {
    this.store.reset();
    this.faults.clear();
    this.counts.reset();
    this.idempotency.reset();
    this.webhooks.reset();
  }
}
