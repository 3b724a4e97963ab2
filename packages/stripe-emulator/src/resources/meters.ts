import { createHash } from 'node:crypto';
import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { newId, randomSuffix } from '../ids.js';
import { listOf, paginate, parseLimit, type ListObject } from '../list.js';
import { int, obj, oneOf, requireStr, str, type Params } from '../params.js';
import type { Obj } from '../store.js';

/**
 * Billing meters, meter events and event summaries (API v1). As in Stripe, a meter event is
 * accepted for processing, not checked against the meters: an event for no active meter, a payload
 * without the customer or the value, or a timestamp outside the accepted window is answered 200 and
 * counts in no summary (Stripe reports those asynchronously, in `v1.billing.meter.error_report_triggered`).
 * What is checked at once: the parameters' presence and types, and the `identifier`, unique within a
 * rolling 24 hours ("An event already exists with identifier …").
 */

const FORMULAS = ['count', 'sum', 'last'] as const;
const WINDOWS = ['hour', 'day'] as const;
const NAME_MAX = 100;
const IDENTIFIER_MAX = 100;
/** Stripe keeps identifiers unique over a rolling period of at least 24 hours. */
export const IDENTIFIER_WINDOW_SECONDS = 24 * 3600;
const PAST_WINDOW_SECONDS = 35 * 86_400;
const FUTURE_WINDOW_SECONDS = 5 * 60;

function findMeter(ctx: Ctx, id: string): Obj {
  const meter = ctx.store.meters.get(id);
  if (!meter) throw noSuchObject('billing.meter', id);
  return meter;
}

const render = (meter: Obj): Obj => structuredClone(meter);

function payloadKey(params: Params, key: string, fallback: string): string {
  const o = obj(params, key);
  if (o === undefined) return fallback;
  const v = requireStr(o, 'event_payload_key', `${key}[event_payload_key]`);
  if (v.length > NAME_MAX)
    throw invalidRequest('event_payload_key is too long.', `${key}[event_payload_key]`);
  return v;
}

function createMeter(ctx: Ctx, params: Params): Obj {
  const aggregation = obj(params, 'default_aggregation');
  if (!aggregation) throw missingParam('default_aggregation');
  const formula = oneOf(aggregation, 'formula', FORMULAS, 'default_aggregation[formula]');
  if (!formula) throw missingParam('default_aggregation[formula]');
  const displayName = requireStr(params, 'display_name');
  const eventName = requireStr(params, 'event_name');
  if (eventName.length > NAME_MAX)
    throw invalidRequest(`event_name must be at most ${NAME_MAX} characters.`, 'event_name');
  const mapping = obj(params, 'customer_mapping');
  if (mapping && str(mapping, 'type', 'customer_mapping[type]') !== 'by_id')
    throw invalidRequest('Invalid customer_mapping[type]: must be by_id', 'customer_mapping[type]');
  if (ctx.store.meters.values().some((m) => m.event_name === eventName && m.status === 'active'))
    throw invalidRequest(
      `An active meter with event_name \`${eventName}\` already exists.`,
      'event_name',
      'resource_already_exists',
    );
  const now = ctx.store.clock.now();
  const meter: Obj = {
    id: newId('mtr_test'),
    object: 'billing.meter',
    created: now,
    customer_mapping: {
      event_payload_key: payloadKey(params, 'customer_mapping', 'stripe_customer_id'),
      type: 'by_id',
    },
    default_aggregation: { formula },
    display_name: displayName,
    event_name: eventName,
    event_time_window: oneOf(params, 'event_time_window', WINDOWS) ?? null,
    livemode: false,
    status: 'active',
    status_transitions: { deactivated_at: null },
    updated: now,
    value_settings: { event_payload_key: payloadKey(params, 'value_settings', 'value') },
  };
  ctx.store.meters.insert(meter);
  return render(meter);
}

function updateMeter(ctx: Ctx, id: string, params: Params): Obj {
  const meter = findMeter(ctx, id);
  const name = str(params, 'display_name');
  if (name !== undefined) {
    if (name === '') throw invalidRequest('You must provide a non-empty display_name.', 'display_name');
    meter.display_name = name;
    meter.updated = ctx.store.clock.now();
  }
  return render(meter);
}

function setActive(ctx: Ctx, id: string, active: boolean): Obj {
  const meter = findMeter(ctx, id);
  if ((meter.status === 'active') === active)
    throw invalidRequest(
      `The meter \`${id}\` is already ${active ? 'active' : 'inactive'}.`,
      undefined,
      active ? 'billing_meter_already_active' : 'billing_meter_already_inactive',
    );
  if (
    active &&
    ctx.store.meters.values().some((m) => m.event_name === meter.event_name && m.status === 'active')
  )
    throw invalidRequest(`An active meter with event_name \`${meter.event_name}\` already exists.`);
  const now = ctx.store.clock.now();
  meter.status = active ? 'active' : 'inactive';
  meter.status_transitions = { deactivated_at: active ? null : now };
  meter.updated = now;
  return render(meter);
}

function createMeterEvent(ctx: Ctx, params: Params): Obj {
  const eventName = requireStr(params, 'event_name');
  const payload = obj(params, 'payload');
  if (!payload || Object.keys(payload).length === 0) throw missingParam('payload');
  for (const [k, v] of Object.entries(payload))
    if (typeof v !== 'string') throw invalidRequest(`Invalid string: ${JSON.stringify(v)}`, `payload[${k}]`);
  const now = ctx.store.clock.now();
  const given = str(params, 'identifier');
  if (given !== undefined && (given === '' || given.length > IDENTIFIER_MAX))
    throw invalidRequest(`identifier must be 1 to ${IDENTIFIER_MAX} characters.`, 'identifier');
  const identifier = given ?? randomSuffix(32);
  const seen = ctx.store.meterEventIdentifiers.get(identifier);
  if (seen !== undefined && now - seen < IDENTIFIER_WINDOW_SECONDS)
    throw invalidRequest(`An event already exists with identifier ${identifier}.`, 'identifier');
  const timestamp = int(params, 'timestamp') ?? now;
  const inWindow = timestamp >= now - PAST_WINDOW_SECONDS && timestamp <= now + FUTURE_WINDOW_SECONDS;
  ctx.store.meterEventIdentifiers.set(identifier, now);
  const event: Obj = {
    object: 'billing.meter_event',
    created: now,
    event_name: eventName,
    identifier,
    livemode: false,
    payload: { ...(payload as Record<string, string>) },
    timestamp,
  };
  // The meters that will count it: the active one with its event name, when the event is valid for it.
  const meters = inWindow
    ? ctx.store.meters
        .values()
        .filter((m) => m.status === 'active' && m.event_name === eventName)
        .map((m) => m.id as string)
    : [];
  ctx.store.meterEvents.insert({ ...event, id: newId('mev'), meters });
  return structuredClone(event);
}

/** The meter's aggregate of one customer's events in [start, end): sum, count or last value. */
function aggregate(meter: Obj, events: Obj[]): number {
  const formula = meter.default_aggregation.formula as (typeof FORMULAS)[number];
  if (formula === 'count') return events.length;
  const valueKey = meter.value_settings.event_payload_key as string;
  const values = events
    .map((e) => ({ t: e.timestamp as number, v: Number(e.payload[valueKey]) }))
    .filter((x) => Number.isFinite(x.v));
  if (formula === 'sum') return values.reduce((s, x) => s + x.v, 0);
  // `last`: the value of the latest event (the last received among equal timestamps).
  return values.reduce<{ t: number; v: number } | null>((a, x) => (a && a.t > x.t ? a : x), null)?.v ?? 0;
}

function summaryId(meter: string, customer: string, start: number, end: number): string {
  const digest = createHash('sha256').update(`${meter}\0${customer}\0${start}\0${end}`).digest('base64url');
  return `mtrusg_test_${digest.replace(/[-_]/g, '').slice(0, 40)}`;
}

function eventSummaries(ctx: Ctx, id: string, params: Params): ListObject {
  const meter = findMeter(ctx, id);
  const customer = requireStr(params, 'customer');
  if (!ctx.store.customers.get(customer)) throw noSuchReference('customer', customer, 'customer');
  const start = int(params, 'start_time');
  const end = int(params, 'end_time');
  if (start === undefined) throw missingParam('start_time');
  if (end === undefined) throw missingParam('end_time');
  for (const [name, t] of [
    ['start_time', start],
    ['end_time', end],
  ] as const)
    if (t % 60 !== 0) throw invalidRequest(`${name} must be aligned with minute boundaries.`, name);
  if (end <= start) throw invalidRequest('end_time must be after start_time.', 'end_time');
  const window = oneOf(params, 'value_grouping_window', WINDOWS);
  const customerKey = meter.customer_mapping.event_payload_key as string;
  const events = ctx.store.meterEvents
    .values()
    .reverse()
    .filter(
      (ev) =>
        (ev.meters as string[]).includes(meter.id) &&
        ev.payload[customerKey] === customer &&
        ev.timestamp >= start &&
        ev.timestamp < end,
    );
  const summary = (from: number, to: number, of: Obj[]): Obj => ({
    id: summaryId(meter.id, customer, from, to),
    object: 'billing.meter_event_summary',
    aggregated_value: aggregate(meter, of),
    end_time: to,
    livemode: false,
    meter: meter.id,
    start_time: from,
  });
  let all: Obj[];
  if (!window) all = [summary(start, end, events)];
  else {
    // One summary per UTC hour or day that has events, newest first.
    const size = window === 'hour' ? 3600 : 86_400;
    const buckets = new Map<number, Obj[]>();
    for (const ev of events) {
      const b = Math.floor(ev.timestamp / size) * size;
      buckets.set(b, [...(buckets.get(b) ?? []), ev]);
    }
    all = [...buckets.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([b, of]) => summary(Math.max(b, start), Math.min(b + size, end), of));
  }
  return pageOf(`/v1/billing/meters/${meter.id}/event_summaries`, all, params);
}

/** Cursor pages over a computed, newest-first list (summaries are not stored objects). */
function pageOf(url: string, all: Obj[], params: Params): ListObject {
  const limit = parseLimit(params);
  const after = str(params, 'starting_after') || undefined;
  const before = str(params, 'ending_before') || undefined;
  let from = 0;
  let to = all.length;
  if (after) {
    const i = all.findIndex((x) => x.id === after);
    if (i < 0) throw noSuchReference('billing.meter_event_summary', after, 'starting_after');
    from = i + 1;
  } else if (before) {
    const i = all.findIndex((x) => x.id === before);
    if (i < 0) throw noSuchReference('billing.meter_event_summary', before, 'ending_before');
    to = i;
    from = Math.max(0, to - limit);
    return listOf(url, all.slice(from, to), from > 0);
  }
  return listOf(url, all.slice(from, from + limit), from + limit < to);
}

export const meterRoutes: Route[] = [
  { method: 'POST', path: '/v1/billing/meters', handler: ({ ctx, params }) => createMeter(ctx, params) },
  {
    method: 'GET',
    path: '/v1/billing/meters',
    handler: ({ ctx, params }) => {
      const status = oneOf(params, 'status', ['active', 'inactive'] as const);
      return paginate(ctx.store.meters, params, {
        url: '/v1/billing/meters',
        kind: 'billing.meter',
        filter: (m) => status === undefined || m.status === status,
        render,
      });
    },
  },
  { method: 'GET', path: '/v1/billing/meters/:id', handler: ({ ctx, id }) => render(findMeter(ctx, id)) },
  {
    method: 'POST',
    path: '/v1/billing/meters/:id',
    handler: ({ ctx, id, params }) => updateMeter(ctx, id, params),
  },
  {
    method: 'POST',
    path: '/v1/billing/meters/:id/deactivate',
    handler: ({ ctx, id }) => setActive(ctx, id, false),
  },
  {
    method: 'POST',
    path: '/v1/billing/meters/:id/reactivate',
    handler: ({ ctx, id }) => setActive(ctx, id, true),
  },
  {
    method: 'GET',
    path: '/v1/billing/meters/:id/event_summaries',
    handler: ({ ctx, id, params }) => eventSummaries(ctx, id, params),
  },
  {
    method: 'POST',
    path: '/v1/billing/meter_events',
    handler: ({ ctx, params }) => createMeterEvent(ctx, params),
  },
];
