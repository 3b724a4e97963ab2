import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { shapeProblems } from './stripe-shapes.js';
import { useEmulator } from './support.js';

/**
 * Billing meters, meter events and event summaries, driven by the real `stripe` SDK: what a
 * usage reporter relies on (identifier dedupe, sums per customer and window, deactivation).
 */
const { emu, stripe } = await useEmulator();

const wire = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (k, v) => (k === 'lastResponse' ? undefined : v)));
/** A minute-aligned instant at or before now, so summaries can start there. */
const minuteFloor = (t: number) => Math.floor(t / 60) * 60;

async function meter(eventName = 'api_calls', formula: 'sum' | 'count' | 'last' = 'sum') {
  return stripe.billing.meters.create({
    display_name: 'API calls',
    event_name: eventName,
    default_aggregation: { formula },
  });
}

describe('billing meters', () => {
  it('creates with Stripe’s defaults, retrieves, lists by status, renames, deactivates and reactivates', async () => {
    const m = await meter();
    expect(m).toMatchObject({
      object: 'billing.meter',
      status: 'active',
      event_name: 'api_calls',
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
      default_aggregation: { formula: 'sum' },
      event_time_window: null,
      status_transitions: { deactivated_at: null },
    });
    expect(m.id).toMatch(/^mtr_test_/);
    expect((await stripe.billing.meters.retrieve(m.id)).id).toBe(m.id);
    await expect(meter()).rejects.toMatchObject({ type: 'StripeInvalidRequestError', param: 'event_name' });
    const renamed = await stripe.billing.meters.update(m.id, { display_name: 'Calls' });
    expect(renamed.display_name).toBe('Calls');
    const off = await stripe.billing.meters.deactivate(m.id);
    expect(off.status).toBe('inactive');
    expect(off.status_transitions.deactivated_at).toEqual(expect.any(Number));
    await expect(stripe.billing.meters.deactivate(m.id)).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    expect((await stripe.billing.meters.list({ status: 'active' })).data).toEqual([]);
    expect((await stripe.billing.meters.list({ status: 'inactive' })).data.map((x) => x.id)).toEqual([m.id]);
    expect((await stripe.billing.meters.reactivate(m.id)).status).toBe('active');
    await expect(stripe.billing.meters.retrieve('mtr_test_nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    await expect(
      stripe.billing.meters.create({ display_name: 'x', event_name: 'y' } as never),
    ).rejects.toMatchObject({ code: 'parameter_missing', param: 'default_aggregation' });
  });
});

describe('meter events and event summaries', () => {
  it('sums one customer’s events; an identifier counts once within 24 hours, as Stripe refuses the repeat', async () => {
    const m = await meter();
    const [a, b] = await Promise.all([stripe.customers.create(), stripe.customers.create()]);
    const start = minuteFloor(Math.floor(Date.now() / 1000)) - 3600;
    const send = (customer: string, value: number, identifier?: string) =>
      stripe.billing.meterEvents.create({
        event_name: 'api_calls',
        payload: { stripe_customer_id: customer, value: String(value) },
        ...(identifier ? { identifier } : {}),
      });
    const first = await send(a.id, 5, 'id-1');
    expect(first).toMatchObject({
      object: 'billing.meter_event',
      event_name: 'api_calls',
      identifier: 'id-1',
      payload: { stripe_customer_id: a.id, value: '5' },
    });
    await expect(send(a.id, 5, 'id-1')).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      statusCode: 400,
      message: 'An event already exists with identifier id-1.',
    });
    // The same request retried with its Idempotency-Key is a replay, not a second event.
    const params = {
      event_name: 'api_calls',
      payload: { stripe_customer_id: a.id, value: '2' },
      identifier: 'id-2',
    };
    await stripe.billing.meterEvents.create(params, { idempotencyKey: 'k-2' });
    await stripe.billing.meterEvents.create(params, { idempotencyKey: 'k-2' });
    expect((await send(a.id, 3)).identifier).toMatch(/^[A-Za-z0-9]{32}$/);
    await send(b.id, 100);
    // Not counted: no active meter has the name (Stripe reports it asynchronously).
    await stripe.billing.meterEvents.create({
      event_name: 'other',
      payload: { stripe_customer_id: a.id, value: '7' },
    });
    const summaries = await stripe.billing.meters.listEventSummaries(m.id, {
      customer: a.id,
      start_time: start,
      end_time: start + 7200,
    });
    expect(summaries.data).toHaveLength(1);
    expect(summaries.data[0]).toMatchObject({
      object: 'billing.meter_event_summary',
      aggregated_value: 10,
      meter: m.id,
      start_time: start,
      end_time: start + 7200,
    });
    // A day later the identifier may be used again.
    emu.advanceClock(24 * 3600);
    await send(a.id, 1, 'id-1');
    await expect(
      stripe.billing.meters.listEventSummaries(m.id, {
        customer: a.id,
        start_time: start + 1,
        end_time: start + 60,
      }),
    ).rejects.toMatchObject({ param: 'start_time' });
  });

  it('groups by hour, newest first, with cursor pages; counts only while the meter is active', async () => {
    const m = await meter('tokens');
    const c = await stripe.customers.create();
    const hour = Math.floor(Date.now() / 1000 / 3600) * 3600;
    const at = (t: number, value: number) =>
      stripe.billing.meterEvents.create({
        event_name: 'tokens',
        payload: { stripe_customer_id: c.id, value: String(value) },
        timestamp: t,
      });
    await at(hour - 7200 + 10, 1);
    await at(hour - 3600 + 10, 2);
    await at(hour - 3600 + 20, 3);
    await at(hour + 1, 4);
    await stripe.billing.meters.deactivate(m.id);
    await at(hour + 2, 1000);
    const range = { customer: c.id, start_time: hour - 7200, end_time: hour + 3600 };
    const grouped = await stripe.billing.meters.listEventSummaries(m.id, {
      ...range,
      value_grouping_window: 'hour',
    });
    expect(grouped.data.map((s) => [s.start_time - hour, s.aggregated_value])).toEqual([
      [0, 4],
      [-3600, 5],
      [-7200, 1],
    ]);
    const page1 = await stripe.billing.meters.listEventSummaries(m.id, {
      ...range,
      value_grouping_window: 'hour',
      limit: 2,
    });
    expect(page1.has_more).toBe(true);
    const page2 = await stripe.billing.meters.listEventSummaries(m.id, {
      ...range,
      value_grouping_window: 'hour',
      limit: 2,
      starting_after: page1.data[1]!.id,
    });
    expect(page2.data.map((s) => s.aggregated_value)).toEqual([1]);
    expect(page2.has_more).toBe(false);
  });

  it('answers in Stripe’s published shapes', async () => {
    const m = await meter('shaped', 'last');
    const c = await stripe.customers.create();
    const event = await stripe.billing.meterEvents.create({
      event_name: 'shaped',
      payload: { stripe_customer_id: c.id, value: '9' },
    });
    // The emulator's clock (advanced a day above) stamps the event.
    const now = minuteFloor(event.timestamp);
    const summaries = await stripe.billing.meters.listEventSummaries(m.id, {
      customer: c.id,
      start_time: now - 60,
      end_time: now + 120,
    });
    expect(summaries.data[0]!.aggregated_value).toBe(9);
    const problems = [
      ...shapeProblems(wire(m), 'meters.create'),
      ...shapeProblems(wire(await stripe.billing.meters.deactivate(m.id)), 'meters.deactivate'),
      ...shapeProblems(wire(await stripe.billing.meters.list()), 'meters.list'),
      ...shapeProblems(wire(event), 'meterEvents.create'),
      ...shapeProblems(wire(summaries), 'meters.listEventSummaries'),
    ];
    expect(problems).toEqual([]);
  });
});
