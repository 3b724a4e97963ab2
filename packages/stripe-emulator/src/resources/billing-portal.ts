import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { newId } from '../ids.js';
import { paginate } from '../list.js';
import { applyMetadata, arr, int, obj, oneOf, str, type Params } from '../params.js';
import type { Obj } from '../store.js';
import { liveCustomer } from './customer-lookup.js';
import { updateSubscriptionItems } from './subscriptions.js';

/**
 * Customer portal: configurations and sessions, with the `subscription_update_confirm` flow that
 * sends a customer straight to confirming a move of their subscription onto another price. Stripe
 * has no API for what the customer then does on the portal page; `confirmBillingPortalSession`
 * (test helper) stands in for it and applies the update through the subscription update path.
 */

const OPEN_STATUSES = ['active', 'trialing', 'past_due', 'unpaid', 'paused', 'incomplete'];

function createConfiguration(ctx: Ctx, params: Params, isDefault = false): Obj {
  const features = obj(params, 'features') ?? {};
  const now = ctx.store.clock.now();
  const configuration: Obj = {
    id: newId('bpc'),
    object: 'billing_portal.configuration',
    active: true,
    application: null,
    business_profile: obj(params, 'business_profile') ?? {
      headline: null,
      privacy_policy_url: null,
      terms_of_service_url: null,
    },
    created: now,
    default_return_url: str(params, 'default_return_url') ?? null,
    features: structuredClone(features),
    is_default: isDefault,
    livemode: false,
    login_page: { enabled: false, url: null },
    metadata: applyMetadata({}, params),
    name: str(params, 'name') ?? null,
    updated: now,
  };
  ctx.store.billingPortalConfigurations.insert(configuration);
  return structuredClone(configuration);
}

/** Stripe makes the dashboard's saved settings the default configuration; here one is made on first use. */
function defaultConfiguration(ctx: Ctx): Obj {
  const existing = ctx.store.billingPortalConfigurations.values().find((c) => c.is_default);
  return existing ?? createConfiguration(ctx, {}, true);
}

function findConfiguration(ctx: Ctx, id: string, param?: string): Obj {
  const configuration = ctx.store.billingPortalConfigurations.get(id);
  if (!configuration)
    throw param
      ? noSuchReference('billing_portal.configuration', id, param)
      : noSuchObject('billing_portal.configuration', id);
  return configuration;
}

function updateConfirmFlow(ctx: Ctx, customerId: string, raw: Params): Obj {
  const subscriptionId = str(raw, 'subscription', 'flow_data[subscription_update_confirm][subscription]');
  if (!subscriptionId) throw missingParam('flow_data[subscription_update_confirm][subscription]');
  const sub = ctx.store.subscriptions.get(subscriptionId);
  if (!sub || sub.customer !== customerId)
    throw noSuchReference(
      'subscription',
      subscriptionId,
      'flow_data[subscription_update_confirm][subscription]',
    );
  if (!OPEN_STATUSES.includes(sub.status))
    throw invalidRequest(
      `The subscription ${subscriptionId} cannot be updated because it has a status of ${sub.status}.`,
      'flow_data[subscription_update_confirm][subscription]',
    );
  const rawItems = arr(raw, 'items', 'flow_data[subscription_update_confirm][items]');
  if (!rawItems || rawItems.length === 0) throw missingParam('flow_data[subscription_update_confirm][items]');
  if (rawItems.length > 1)
    throw invalidRequest(
      'Only one item can be updated in a subscription_update_confirm flow.',
      'flow_data[subscription_update_confirm][items]',
    );
  const items = rawItems.map((value, i) => {
    const param = `flow_data[subscription_update_confirm][items][${i}]`;
    if (typeof value !== 'object' || value === null) throw invalidRequest('Invalid hash', param);
    const item = value as Params;
    const id = str(item, 'id', `${param}[id]`);
    if (!id) throw missingParam(`${param}[id]`);
    if (!sub.items.some((existing) => existing.id === id))
      throw noSuchReference('subscription_item', id, `${param}[id]`);
    const priceId = str(item, 'price', `${param}[price]`);
    if (priceId) {
      const price = ctx.store.prices.get(priceId);
      if (!price) throw noSuchReference('price', priceId, `${param}[price]`);
      if (!price.active || price.type !== 'recurring')
        throw invalidRequest('The price must be an active recurring price.', `${param}[price]`);
    }
    return { id, price: priceId ?? null, quantity: int(item, 'quantity', `${param}[quantity]`) ?? null };
  });
  return { discounts: [], items, subscription: subscriptionId };
}

function createSession(ctx: Ctx, params: Params): Obj {
  const customerId = str(params, 'customer');
  if (!customerId) throw missingParam('customer');
  if (!liveCustomer(ctx, customerId)) throw noSuchReference('customer', customerId, 'customer');
  const configurationId = str(params, 'configuration');
  const configuration = configurationId
    ? findConfiguration(ctx, configurationId, 'configuration')
    : defaultConfiguration(ctx);
  const returnUrl = str(params, 'return_url') ?? configuration.default_return_url ?? null;
  const flowData = obj(params, 'flow_data');
  let flow: Obj | null = null;
  if (flowData) {
    const type = oneOf(
      flowData,
      'type',
      [
        'payment_method_update',
        'subscription_cancel',
        'subscription_update',
        'subscription_update_confirm',
      ] as const,
      'flow_data[type]',
    );
    if (!type) throw missingParam('flow_data[type]');
    const afterRaw = obj(flowData, 'after_completion', 'flow_data[after_completion]') ?? {};
    const afterType =
      oneOf(
        afterRaw,
        'type',
        ['hosted_confirmation', 'portal_homepage', 'redirect'] as const,
        'flow_data[after_completion][type]',
      ) ?? 'portal_homepage';
    const redirect = obj(afterRaw, 'redirect', 'flow_data[after_completion][redirect]');
    if (afterType === 'redirect' && !redirect?.return_url)
      throw missingParam('flow_data[after_completion][redirect][return_url]');
    const confirmRaw = obj(flowData, 'subscription_update_confirm', 'flow_data[subscription_update_confirm]');
    if (type === 'subscription_update_confirm' && !confirmRaw)
      throw missingParam('flow_data[subscription_update_confirm]');
    flow = {
      after_completion: {
        hosted_confirmation: afterType === 'hosted_confirmation' ? { custom_message: null } : null,
        redirect: afterType === 'redirect' ? { return_url: String(redirect!.return_url) } : null,
        type: afterType,
      },
      subscription_cancel: null,
      subscription_update: null,
      subscription_update_confirm:
        type === 'subscription_update_confirm' ? updateConfirmFlow(ctx, customerId, confirmRaw!) : null,
      type,
    };
  }
  const id = newId('bps');
  const session: Obj = {
    id,
    object: 'billing_portal.session',
    configuration: configuration.id,
    created: ctx.store.clock.now(),
    customer: customerId,
    flow,
    livemode: false,
    locale: str(params, 'locale') ?? null,
    on_behalf_of: null,
    return_url: returnUrl,
    url: `${ctx.baseUrl}/billing_portal/${id}`,
    _confirmed: false,
  };
  ctx.store.billingPortalSessions.insert(session);
  return renderPortalSession(session);
}

function renderPortalSession(session: Obj): Obj {
  const { _confirmed: _done, ...rest } = session;
  return structuredClone(rest);
}

/** Test helper: the customer confirms the session's subscription_update_confirm flow on the portal page. */
export function confirmBillingPortalSession(ctx: Ctx, id: string): Obj {
  const session = ctx.store.billingPortalSessions.get(id);
  if (!session) throw new Error(`No such billing portal session: '${id}'`);
  const confirm = session.flow?.subscription_update_confirm;
  if (!confirm) throw new Error(`Billing portal session ${id} has no subscription_update_confirm flow`);
  if (session._confirmed) throw new Error(`Billing portal session ${id} was already confirmed`);
  session._confirmed = true;
  return updateSubscriptionItems(
    ctx,
    confirm.subscription,
    confirm.items.map((item: { id: string; price: string | null; quantity: number | null }) => ({
      id: item.id,
      ...(item.price ? { price: item.price } : {}),
      ...(item.quantity !== null ? { quantity: String(item.quantity) } : {}),
    })),
  );
}

export const billingPortalRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/billing_portal/sessions',
    handler: ({ ctx, params }) => createSession(ctx, params),
  },
  {
    method: 'POST',
    path: '/v1/billing_portal/configurations',
    handler: ({ ctx, params }) => createConfiguration(ctx, params),
  },
  {
    method: 'GET',
    path: '/v1/billing_portal/configurations/:id',
    handler: ({ ctx, id }) => structuredClone(findConfiguration(ctx, id)),
  },
  {
    method: 'GET',
    path: '/v1/billing_portal/configurations',
    handler: ({ ctx, params }) =>
      paginate(ctx.store.billingPortalConfigurations, params, {
        url: '/v1/billing_portal/configurations',
        kind: 'billing_portal.configuration',
      }),
  },
];
