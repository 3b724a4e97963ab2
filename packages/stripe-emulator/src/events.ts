import { isDeepStrictEqual } from 'node:util';
import { newId } from './ids.js';
import type { Obj, Store } from './store.js';
import { API_VERSION } from './version.js';

export interface RequestRef {
  id: string | null;
  idempotency_key: string | null;
}

export const NO_REQUEST: RequestRef = { id: null, idempotency_key: null };

/**
 * Top-level fields whose value changed, mapped to their *old* value: exactly
 * what Stripe puts in `data.previous_attributes`. Returns null when nothing
 * changed so callers can skip the event, as Stripe does for no-op updates.
 */
export function previousAttributes(before: Obj, after: Obj, ignore: string[] = []): Obj | null {
  const prev: Obj = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (ignore.includes(key)) continue;
    if (!isDeepStrictEqual(before[key], after[key]))
      prev[key] = before[key] === undefined ? null : structuredClone(before[key]);
  }
  return Object.keys(prev).length ? prev : null;
}

export class EventLog {
  constructor(
    private store: Store,
    /** How many endpoints will receive the event; Stripe reports it as `pending_webhooks`. */
    private pendingWebhooks: () => number,
    private onEvent: (event: Obj) => void,
    /** False for a log that records nothing (see muted). */
    private readonly recording = true,
  ) {}

  /**
   * A log that builds each event and keeps none (no events list entry, no delivery): for bulk
   * fixtures, whose objects stand for an account's history older than the 30 days of events Stripe keeps.
   */
  muted(): EventLog {
    return new EventLog(
      this.store,
      () => 0,
      () => {},
      false,
    );
  }

  emit(type: string, object: unknown, previous?: Obj | null, request: RequestRef = NO_REQUEST): Obj {
    if (!this.recording) return { object: 'event', type, data: { object } };
    const data: Obj = { object: structuredClone(object) };
    if (previous) data.previous_attributes = structuredClone(previous);
    const event = {
      id: newId('evt'),
      object: 'event',
      api_version: API_VERSION,
      created: this.store.clock.now(),
      data,
      livemode: false,
      pending_webhooks: this.pendingWebhooks(),
      request: { ...request },
      type,
    };
    this.store.events.insert(event);
    this.onEvent(event);
    return event;
  }

  /** Oldest first, as the emulator's `events()` promises. */
  all(): Obj[] {
    return this.store.events.values().reverse();
  }
}
