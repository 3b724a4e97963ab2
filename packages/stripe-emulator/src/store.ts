import { Clock } from './ids.js';

// Emulator objects are plain JSON trees in Stripe's wire shape; typing every
// field of every resource would duplicate the SDK's types for little gain.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export interface Entry<T> {
  row: T;
  /** Global insertion order; `created` has one-second resolution, so ties are common. */
  seq: number;
  /** Set on delete; lists skip it until they compact. */
  removed?: boolean;
}

/** Where a newest-first walk starts and stops: a cursor's seq and inclusive `created` bounds. */
export interface WalkBounds {
  /** Only entries inserted before this seq (a `starting_after` cursor). */
  beforeSeq?: number;
  /** Only entries inserted after this seq (an `ending_before` cursor). */
  afterSeq?: number;
  minCreated?: number;
  maxCreated?: number;
}

/**
 * Entries in insertion order (ascending seq). A walk starts by binary search (on seq for a cursor,
 * on `created` while every row's `created` is non-decreasing, which the emulator's clock
 * guarantees) and costs the entries it visits, not the size of the list. Deletes leave holes that
 * are compacted once they are half the list.
 */
export class EntryList<T extends Obj> {
  private items: Entry<T>[] = [];
  private holes = 0;
  /** False once a row arrives older than its predecessor (or without `created`): no bisecting on created. */
  private createdOrdered = true;

  add(entry: Entry<T>): void {
    const created = entry.row.created;
    const last = this.items.at(-1)?.row.created;
    if (typeof created !== 'number' || (last !== undefined && created < last)) this.createdOrdered = false;
    this.items.push(entry);
  }

  /** Call after marking `entry.removed`. */
  drop(): void {
    this.holes += 1;
    if (this.holes > 32 && this.holes * 2 > this.items.length) {
      this.items = this.items.filter((e) => !e.removed);
      this.holes = 0;
    }
  }

  get length(): number {
    return this.items.length - this.holes;
  }

  /** First position whose key is greater than `value` (`key` non-decreasing along the list). */
  private upper(value: number, key: (e: Entry<T>) => number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (key(this.items[mid]!) > value) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private range(b: WalkBounds): { from: number; to: number; ordered: boolean } {
    const bySeq = (e: Entry<T>) => e.seq;
    const byCreated = (e: Entry<T>) => e.row.created as number;
    let from = b.afterSeq === undefined ? 0 : this.upper(b.afterSeq, bySeq);
    let to = b.beforeSeq === undefined ? this.items.length : this.upper(b.beforeSeq - 1, bySeq);
    if (this.createdOrdered) {
      if (b.minCreated !== undefined) from = Math.max(from, this.upper(b.minCreated - 1, byCreated));
      if (b.maxCreated !== undefined) to = Math.min(to, this.upper(b.maxCreated, byCreated));
    }
    return { from, to, ordered: this.createdOrdered };
  }

  /** Newest first within the bounds; `created` bounds are applied here too when the list cannot bisect on them. */
  *newestFirst(bounds: WalkBounds = {}): Generator<Entry<T>> {
    const { from, to } = this.range(bounds);
    for (let i = to - 1; i >= from; i--) {
      const e = this.items[i]!;
      if (!e.removed && inCreated(e, bounds)) yield e;
    }
  }

  /** Oldest first within the bounds. */
  *oldestFirst(bounds: WalkBounds = {}): Generator<Entry<T>> {
    const { from, to } = this.range(bounds);
    for (let i = from; i < to; i++) {
      const e = this.items[i]!;
      if (!e.removed && inCreated(e, bounds)) yield e;
    }
  }
}

/** Rows without `created` pass every range, as Stripe lists that have no such field ignore it. */
function inCreated(e: Entry<Obj>, b: WalkBounds): boolean {
  const c = e.row.created;
  if (typeof c !== 'number') return true;
  return (
    (b.minCreated === undefined || c >= b.minCreated) && (b.maxCreated === undefined || c <= b.maxCreated)
  );
}

/** A secondary index: rows grouped by the value of a field that never changes once the row exists. */
type IndexKey<T> = (row: T) => string | undefined;

/**
 * One collection of objects, iterable newest-first like every Stripe list. Lookups by id, inserts
 * and deletes are O(1) (deletes O(rows of the same index key)); lists walk an `EntryList` — the
 * whole table or one index group (`scope`) — from the position a cursor or `created` bound gives.
 */
export class Table<T extends Obj> {
  private rows = new Map<string, Entry<T>>();
  private ordered = new EntryList<T>();
  private groups = new Map<string, Map<string, EntryList<T>>>();

  constructor(
    private nextSeq: () => number,
    private indexes: Record<string, IndexKey<T>> = {},
  ) {
    for (const name of Object.keys(indexes)) this.groups.set(name, new Map());
  }

  insert(row: T): T {
    const entry: Entry<T> = { row, seq: this.nextSeq() };
    const previous = this.rows.get(row.id);
    if (previous) this.remove(previous);
    this.rows.set(row.id, entry);
    this.ordered.add(entry);
    for (const [name, key] of Object.entries(this.indexes)) {
      const value = key(row);
      if (value === undefined) continue;
      const groups = this.groups.get(name)!;
      let list = groups.get(value);
      if (!list) groups.set(value, (list = new EntryList<T>()));
      list.add(entry);
    }
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
    const entry = this.rows.get(id);
    if (!entry) return;
    this.rows.delete(id);
    this.remove(entry);
  }
  private remove(entry: Entry<T>): void {
    entry.removed = true;
    this.ordered.drop();
    for (const [name, key] of Object.entries(this.indexes)) {
      const value = key(entry.row);
      if (value === undefined) continue;
      const groups = this.groups.get(name)!;
      const list = groups.get(value);
      if (!list) continue;
      list.drop();
      if (list.length === 0) groups.delete(value);
    }
  }
  /** Every row, or the rows whose index `name` has `value`, as a list to walk. */
  scope(name?: string, value?: string): EntryList<T> {
    if (name === undefined) return this.ordered;
    const groups = this.groups.get(name);
    if (!groups) throw new Error(`Table has no index '${name}'`);
    return (value !== undefined && groups.get(value)) || new EntryList<T>();
  }
  /** Rows whose index `name` has `value`, newest first. */
  where(name: string, value: string): T[] {
    return [...this.scope(name, value).newestFirst()].map((e) => e.row);
  }
  /** Newest first. `created` is non-decreasing in insertion order, so seq alone orders correctly. */
  entries(): Entry<T>[] {
    return [...this.ordered.newestFirst()];
  }
  values(): T[] {
    return this.entries().map((e) => e.row);
  }
  clear(): void {
    this.rows.clear();
    this.ordered = new EntryList<T>();
    for (const name of this.groups.keys()) this.groups.set(name, new Map());
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
  readonly subscriptions = new Table<SubscriptionRecord>(this.next, { customer: (s) => s.customer });
  readonly checkoutSessions = new Table<Obj>(this.next);
  readonly billingPortalConfigurations = new Table<Obj>(this.next);
  readonly billingPortalSessions = new Table<Obj>(this.next);
  readonly invoices = new Table<Obj>(this.next, { customer: (i) => i.customer });
  readonly events = new Table<Obj>(this.next);
  /** `entitlements.feature` objects. */
  readonly features = new Table<Obj>(this.next);
  /** Attachments `{ id, product, feature, created }`; rendered with the feature's current state. */
  readonly productFeatures = new Table<Obj>(this.next, { product: (r) => r.product });
  /** `{ id, customer, feature, created }`, kept in step with subscriptions by syncActiveEntitlements. */
  readonly activeEntitlements = new Table<Obj>(this.next, { customer: (e) => e.customer });
  /** `billing.meter` objects. */
  readonly meters = new Table<Obj>(this.next);
  /** Meter events as received, with `meters`: the ids of the active meters that count them. */
  readonly meterEvents = new Table<Obj>(this.next);
  /** Meter event identifiers → when they were received (uniqueness over a rolling 24 hours). */
  readonly meterEventIdentifiers = new Map<string, number>();
  /** Subscription item id → its subscription's id (the items API addresses items directly). */
  readonly subscriptionOfItem = new Map<string, string>();

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
      this.meters,
      this.meterEvents,
    ]) {
      t.clear();
    }
    this.meterEventIdentifiers.clear();
    this.subscriptionOfItem.clear();
  }
}
