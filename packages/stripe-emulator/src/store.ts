import { Clock } from './ids.js';

// Emulator objects are plain JSON trees in Stripe's wire shape; typing every
// field of every resource would duplicate the SDK's types for little gain.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export interface Entry<T> {
  row: T;
  /** Global insertion order; `created` has one-second resolution, so ties are common. */
  seq: number;
}

/** One collection of objects, iterable newest-first like every Stripe list. */
export class Table<T extends Obj> {
  private rows = new Map<string, Entry<T>>();
  constructor(private nextSeq: () => number) {}

  insert(row: T): T {
    this.rows.set(row.id, { row, seq: this.nextSeq() });
    return row;
  }
  get(id: string): T | undefined {
    return this.rows.get(id)?.row;
  }
  entry(id: string): Entry<T> | undefined {
    return this.rows.get(id);
  }
  has(id: string): boolean {
    return this.rows.has(id);
  }
  delete(id: string): void {
    this.rows.delete(id);
  }
  /** Newest first. `created` is non-decreasing in insertion order, so seq alone orders correctly. */
  entries(): Entry<T>[] {
    return [...this.rows.values()].reverse();
  }
  values(): T[] {
    return this.entries().map((e) => e.row);
  }
  clear(): void {
    this.rows.clear();
  }
  get size(): number {
    return this.rows.size;
  }
}

export interface SubscriptionItemRecord {
  id: string;
  created: number;
  price: string;
  quantity: number;
  metadata: Record<string, string>;
  current_period_start: number;
  current_period_end: number;
}

/**
 * Subscriptions keep their items as records pointing at prices by id, because
 * Stripe embeds the *current* price object in each item on every read.
 */
export interface SubscriptionRecord extends Obj {
  id: string;
  created: number;
  items: SubscriptionItemRecord[];
}

export class Store {
  private seq = 0;
  readonly clock = new Clock();
  private readonly next = () => ++this.seq;

  readonly products = new Table<Obj>(this.next);
  readonly prices = new Table<Obj>(this.next);
  /** Deleted customers stay here with `deleted: true` so retrieve can answer with the stub. */
  readonly customers = new Table<Obj>(this.next);
  readonly subscriptions = new Table<SubscriptionRecord>(this.next);
  readonly checkoutSessions = new Table<Obj>(this.next);
  readonly billingPortalConfigurations = new Table<Obj>(this.next);
  readonly billingPortalSessions = new Table<Obj>(this.next);
  readonly invoices = new Table<Obj>(this.next);
  readonly events = new Table<Obj>(this.next);
  /** `entitlements.feature` objects. */
  readonly features = new Table<Obj>(this.next);
  /** Attachments `{ id, product, feature, created }`; rendered with the feature's current state. */
  readonly productFeatures = new Table<Obj>(this.next);
  /** `{ id, customer, feature, created }`, kept in step with subscriptions by syncActiveEntitlements. */
  readonly activeEntitlements = new Table<Obj>(this.next);

  reset(): void {
    for (const t of [
      this.products,
      this.prices,
      this.customers,
      this.subscriptions,
      this.checkoutSessions,
      this.billingPortalConfigurations,
      this.billingPortalSessions,
      this.invoices,
      this.events,
      this.features,
      this.productFeatures,
      this.activeEntitlements,
    ]) {
      t.clear();
    }
  }
}
