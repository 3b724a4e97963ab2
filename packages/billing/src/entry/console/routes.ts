import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_SOURCES, listAuditEntries } from '../../io/audit/index.js';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { messageOf, TenantNotFoundError, UsageAlertNotFoundError } from '../../core/errors.js';
import { DEFAULT_GRACE_PERIOD_DAYS, diffFeatures, emptyState, explainFeatures } from '../../core/index.js';
import {
  addFeature,
  clearFeatureOverride,
  deprecateFeature,
  describeFeature,
  listFeatures,
  listTenants,
  setFeatureOverride,
} from '../../flows/management/index.js';
import { parseProductMetadata } from '../../io/metadata/index.js';
import {
  LISTED_RECONCILE_RESULTS,
  reconcileTenants,
  type ReconcileResult,
} from '../../flows/reconcile/index.js';
import { knownBundles, readTenantState, tenantCounts } from '../../io/tenant-store/index.js';
import { customPlansOf } from '../../flows/custom-plans/index.js';
import type { CombineRule, FeatureMap, OverLimitPolicy } from '../../core/types.js';
import { databaseCatalog } from '../../io/catalog/registry.js';
import { listOverLimits } from '../../flows/features/over-limit.js';
import { stripeIdSchema } from '../../io/identifiers.js';
import {
  listWebhookEvents,
  replayWebhookEvents,
  webhookFigures,
  type ReplaySelection,
} from '../../flows/webhooks/index.js';
import { listUsageAlerts, listUsageMeterReports, replayUsageAlert } from '../../flows/usage/index.js';
import { field, fields, parseFeatureLines, parseFeatureValue, type FormBody } from './form.js';
import { HttpError } from '../../io/http/error-response.js';
import { requireFeatureSync, type ConsoleKit } from './kit.js';
import { applyPreviewPage, tenantPage } from './views/tenant.js';
import { auditPage } from './views/audit.js';
import { catalogPage } from './views/catalog.js';
import { driftPage } from './views/drift.js';
import { INBOX_TABS, inboxPage, type InboxTab } from './views/inbox.js';
import { overviewPage } from './views/overview.js';
import { tenantsPage } from './views/tenants.js';

const PAGE_SIZE = 50;
const inboxQuery = z.object({
  status: z.enum(INBOX_TABS).optional(),
  cursor: z.string().max(2000).optional(),
});
const replayIds = z.array(stripeIdSchema).min(1, { error: 'select at least one event' }).max(1000);
const alertId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** Usage alerts and meter reports shown on a tenant page. */
const OUTBOX_ROWS = 20;
const tenantParam = z.object({ tenantId: z.string().min(1).max(255) });
const optional = z
  .string()
  .trim()
  .max(255)
  .optional()
  .transform((v) => (v === '' ? undefined : v));
const cursorId = z
  .string()
  .regex(/^[1-9][0-9]{0,17}$/, { error: 'must be an id from the previous page' })
  .optional()
  .or(z.literal('').transform(() => undefined));

const tenantsQuery = z.object({
  q: optional,
  plan: optional,
  access: z.enum(['active', 'restricted', '']).optional(),
  custom: z.enum(['yes', 'no', '']).optional(),
  drift: z.enum(['yes', '']).optional(),
  after: optional,
});
const auditQuery = z.object({
  tenant: optional,
  source: z.enum([...AUDIT_SOURCES, '']).optional(),
  actor: optional,
  before: cursorId,
});
const applyQuery = z.object({
  planId: z.string().trim().min(1).max(255),
  mergeStrategy: z.enum(['merge', 'replace', 'preserve']).optional().default('merge'),
  force: z.enum(['true']).optional(),
});

const tenantIdOf = (request: FastifyRequest) => parseOrThrow(tenantParam, request.params, 'path').tenantId;
const actorOf = (name: string) => `admin:${name}`;
const tenantPath = (tenantId: string) => `/admin/tenants/${encodeURIComponent(tenantId)}`;
const blank = <T>(v: T | '' | undefined): T | undefined => (v === '' ? undefined : v);

/** Thin handlers: parse the request, call the library service, render or redirect. */
export async function consoleRoutes(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const { deps } = kit;
  const { prisma } = deps;
  const read = deps.readPrisma ?? prisma;
  const featureSync = () => requireFeatureSync(deps);
  // The reader whose cache the services publish to after a write (none otherwise: nothing to update).
  const readerOption = () => (deps.featureSync ? { featureReader: deps.featureSync.reader } : {});
  const reconcile = (options: Parameters<typeof reconcileTenants>[1]) =>
    reconcileTenants(
      { prisma, featureSync: featureSync() },
      {
        // Bounded however large the account: the first drifts, failures and skips, the rest counted.
        keepResults: LISTED_RECONCILE_RESULTS,
        ...options,
        ...(deps.gracePeriodDays !== undefined ? { gracePeriodDays: deps.gracePeriodDays } : {}),
      },
    );
  const shared: ConsoleShared = { deps, prisma, read, featureSync, readerOption, reconcile };

  app.get('/admin', async (request, reply) => {
    const principal = kit.principal(request);
    if (principal.role === 'tenant')
      return reply
        .code(303)
        .header('location', `/admin/tenants/${encodeURIComponent(principal.tenantId!)}`)
        .send();
    const stripeSync = deps.featureSync?.stripeSync;
    const [counts, webhooks, plans] = await Promise.all([
      tenantCounts(prisma),
      webhookFigures(prisma),
      stripeSync
        ? stripeSync.getPlanStatistics().then(
            (p) => ({ plans: p, error: null }),
            (e: unknown) => ({ plans: null, error: messageOf(e) }),
          )
        : Promise.resolve({ plans: null, error: 'the Stripe sync service is not configured' }),
    ]);
    return kit.send(
      reply,
      overviewPage(
        { ...kit.ctx(request), section: 'overview' },
        {
          counts,
          webhooks,
          plans: plans.plans,
          planError: plans.error,
          stripeStats: stripeSync?.stats ?? null,
        },
      ),
    );
  });

  app.get('/admin/tenants', async (request, reply) => {
    kit.requireAdmin(request);
    const q = parseOrThrow(tenantsQuery, request.query ?? {}, 'query');
    let ids: string[] | undefined;
    let driftNote: string | null = null;
    if (q.drift === 'yes') {
      // Drift is not stored: it is what a reconcile check finds now (one walk of Stripe's customers).
      const report = await reconcile({});
      ids = report.drift.map((d) => d.tenantId);
      const listed = report.omitted?.drift ? ` (the first ${report.drift.length} are listed)` : '';
      driftNote = `Reconcile check: ${report.drifting} of ${report.checked} checked tenants drift from Stripe${listed} (${report.stripeRequests} Stripe requests).`;
    }
    const access = blank(q.access);
    const custom = blank(q.custom);
    const [page, bundles] = await Promise.all([
      listTenants(prisma, {
        ...(q.q !== undefined ? { search: q.q } : {}),
        ...(q.plan !== undefined ? { bundle: q.plan } : {}),
        ...(access !== undefined ? { accessActive: access === 'active' } : {}),
        ...(custom !== undefined ? { customPlan: custom === 'yes' } : {}),
        ...(ids !== undefined ? { ids } : {}),
        ...(q.after !== undefined ? { cursor: q.after } : {}),
        limit: PAGE_SIZE,
      }),
      knownBundles(prisma),
    ]);
    return kit.send(
      reply,
      tenantsPage(kit.ctx(request), {
        filters: q,
        bundles,
        rows: page.tenants,
        nextCursor: page.nextCursor,
        driftNote,
      }),
    );
  });

  tenantRoutes(app, kit, shared);
  tenantPlanRoutes(app, kit, shared);
  operationsRoutes(app, kit, shared);
  catalogRoutes(app, kit, shared);
}

/** What every group of console routes shares: the services, the read pool and the service checks. */
interface ConsoleShared {
  deps: ConsoleKit['deps'];
  prisma: ConsoleKit['deps']['prisma'];
  read: ConsoleKit['deps']['prisma'];
  featureSync: () => NonNullable<ConsoleKit['deps']['featureSync']>;
  readerOption: () => { featureReader?: NonNullable<ConsoleKit['deps']['featureSync']>['reader'] };
  reconcile: (options: Parameters<typeof reconcileTenants>[1]) => ReturnType<typeof reconcileTenants>;
}

/** A tenant's page and what it changes there: overrides, usage counters, alert replays. */
function tenantRoutes(app: FastifyInstance, kit: ConsoleKit, shared: ConsoleShared): void {
  const { deps, prisma, read, readerOption } = shared;
  app.get('/admin/tenants/:tenantId', async (request, reply) => {
    const principal = kit.principal(request);
    const tenantId = tenantIdOf(request);
    // Read from the database, not the cache: after a change this must show what was committed.
    const stored = await readTenantState(prisma, tenantId);
    if (!stored) throw new TenantNotFoundError(tenantId);
    const { tenant, state } = stored;
    const admin = principal.role === 'admin';
    const entries = await listFeatures(prisma);
    const catalog = new Map(entries.map((e) => [e.key, e]));
    let productFeatures: FeatureMap | null = null;
    let provenanceNote: string | null = null;
    if (admin && state?.stripeProductId && deps.featureSync) {
      try {
        // The product's own metadata, without its default price's: what the plan grants before a price refines it.
        const { stripeSync } = deps.featureSync;
        const productId = state.stripeProductId;
        const product = await stripeSync.call('products.retrieve', () =>
          stripeSync.stripe.products.retrieve(productId),
        );
        productFeatures = parseProductMetadata(product, catalog).features;
      } catch (error) {
        provenanceNote = `Plan and price values are not told apart: the product could not be read from Stripe (${messageOf(error)}).`;
      }
    }
    const s = state ?? emptyState(tenantId);
    const rows = explainFeatures(
      {
        features: s.features,
        planFeatures: s.planFeatures,
        overrides: s.overrides,
        accessActive: s.accessActive,
        productFeatures,
      },
      catalog,
      (key) => catalog.get(key)?.deprecatedAt != null,
    );
    const graceDays = deps.gracePeriodDays ?? DEFAULT_GRACE_PERIOD_DAYS;
    const metered = entries.some((e) => e.usage);
    const [customPlans, audit, usage, usageAlerts, meterReports] = await Promise.all([
      admin ? customPlansOf(prisma, tenantId) : [],
      admin ? listAuditEntries(prisma, { tenantId, limit: 5 }) : { entries: [] },
      // No feature configuration yet: no limits, so no usage to show.
      state && deps.usage ? deps.usage.getUsage(tenantId).then((u) => u.meters) : null,
      admin && metered ? listUsageAlerts(read, { tenantId, limit: OUTBOX_ROWS }) : null,
      admin && metered ? listUsageMeterReports(read, { tenantId, limit: OUTBOX_ROWS, catalog }) : [],
    ]);
    return kit.send(
      reply,
      tenantPage(kit.ctx(request), {
        tenant: { id: tenant.id, name: tenant.name, stripeCustomerId: tenant.stripeCustomerId },
        state,
        rows,
        provenanceNote,
        graceEndsAt: state?.paymentFailedAt
          ? new Date(state.paymentFailedAt.getTime() + graceDays * 86_400_000)
          : null,
        customPlans,
        recentAudit: audit.entries,
        catalog: entries.filter((e) => e.deprecatedAt === null),
        canEditOverrides: true,
        usage,
        usageAlerts,
        meterReports,
      }),
    );
  });

  app.post('/admin/tenants/:tenantId/overrides', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const body = request.body as FormBody;
    const key = field(body, 'key');
    const result = await setFeatureOverride(prisma, tenantId, key, parseFeatureValue(field(body, 'value')), {
      actor: actorOf(principal.name),
      ...readerOption(),
    });
    return kit.redirect(reply, tenantPath(tenantId), {
      kind: 'ok',
      text: result.changed
        ? `Override ${key} = ${String(result.overrides[key])} set.`
        : `Override ${key} already had this value.`,
    });
  });

  app.post('/admin/tenants/:tenantId/overrides/clear', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const key = field(request.body as FormBody, 'key');
    const result = await clearFeatureOverride(prisma, tenantId, key, {
      actor: actorOf(principal.name),
      ...readerOption(),
    });
    return kit.redirect(reply, tenantPath(tenantId), {
      kind: 'ok',
      text: result.changed ? `Override ${key} cleared.` : `${key} had no override.`,
    });
  });

  app.post('/admin/tenants/:tenantId/usage/reset', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const key = field(request.body as FormBody, 'key');
    if (!deps.usage)
      throw new HttpError(503, 'not_configured', 'The usage service is not configured on this server.');
    await deps.usage.resetUsage(tenantId, key, { actor: actorOf(principal.name), source: 'admin' });
    return kit.redirect(reply, tenantPath(tenantId), { kind: 'ok', text: `Usage of ${key} reset to 0.` });
  });

  app.post('/admin/tenants/:tenantId/usage/alerts/replay', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const id = parseOrThrow(alertId, field(request.body as FormBody, 'alertId'), 'alertId');
    // The tenant's own alerts only: another tenant's id is not found from this page.
    const alert = await replayUsageAlert(prisma, id, {
      actor: actorOf(principal.name),
      source: 'admin',
      tenantId,
    });
    if (!alert) throw new UsageAlertNotFoundError(id);
    return kit.redirect(reply, tenantPath(tenantId), {
      kind: 'ok',
      text: `Alert evt_usage_${id} will be sent to the host again.`,
    });
  });
}

/** Applying a plan and creating a custom plan for a tenant. */
function tenantPlanRoutes(app: FastifyInstance, kit: ConsoleKit, shared: ConsoleShared): void {
  const { deps, featureSync } = shared;
  app.get('/admin/tenants/:tenantId/apply-plan', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const q = parseOrThrow(applyQuery, request.query ?? {}, 'query');
    const result = await featureSync().applyPlanDefaultsToTenantOrThrow(tenantId, q.planId, {
      dryRun: true,
      mergeStrategy: q.mergeStrategy,
      force: q.force === 'true',
      actor: actorOf(principal.name),
      source: 'admin',
    });
    const before = result.before ?? {};
    const after = result.after ?? {};
    const d = diffFeatures(before, after);
    const lines = [
      ...d.added.map((key) => ({ key, kind: 'added' as const, before: undefined, after: after[key] })),
      ...d.removed.map((key) => ({ key, kind: 'removed' as const, before: before[key], after: undefined })),
      ...d.changed.map((key) => ({ key, kind: 'changed' as const, before: before[key], after: after[key] })),
    ].sort((a, b) => a.key.localeCompare(b.key));
    return kit.send(
      reply,
      applyPreviewPage(kit.ctx(request), {
        tenantId,
        planId: q.planId,
        mergeStrategy: q.mergeStrategy,
        force: q.force === 'true',
        result,
        lines,
      }),
    );
  });

  app.post('/admin/tenants/:tenantId/apply-plan', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const body = request.body as FormBody;
    const q = parseOrThrow(
      applyQuery,
      {
        planId: field(body, 'planId'),
        mergeStrategy: field(body, 'mergeStrategy') || undefined,
        force: field(body, 'force') || undefined,
      },
      'form',
    );
    const result = await featureSync().applyPlanDefaultsToTenantOrThrow(tenantId, q.planId, {
      mergeStrategy: q.mergeStrategy,
      force: q.force === 'true',
      actor: actorOf(principal.name),
      source: 'admin',
    });
    const text = !result.success
      ? `Plan ${q.planId} was not applied: ${result.reason ?? 'unknown reason'}.`
      : result.changed
        ? `Plan ${q.planId} applied (version ${result.version ?? '?'}).`
        : `Plan ${q.planId}: nothing to change.`;
    return kit.redirect(reply, `/admin/tenants/${encodeURIComponent(tenantId)}`, {
      kind: result.success ? 'ok' : 'error',
      text,
    });
  });

  app.post('/admin/tenants/:tenantId/custom-plans', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = tenantIdOf(request);
    const body = request.body as FormBody;
    if (!deps.customPlans)
      throw new HttpError(503, 'not_configured', 'The custom plan service is not configured on this server.');
    const priceText = field(body, 'priceCents');
    const result = await deps.customPlans.createCustomEnterprisePlan({
      tenantId,
      planName: field(body, 'planName'),
      basePlanId: field(body, 'basePlanId'),
      // Left to the service's validation, which names the field in its error.
      priceCents: priceText === '' ? Number.NaN : Number(priceText),
      currency: field(body, 'currency'),
      recurringInterval: field(body, 'recurringInterval') as 'month',
      overrides: parseFeatureLines(field(body, 'overrides')),
      createCheckoutSession: field(body, 'createCheckoutSession') === 'true',
      ...(field(body, 'idempotencyKey') ? { idempotencyKey: field(body, 'idempotencyKey') } : {}),
      actor: actorOf(principal.name),
    });
    return kit.redirect(reply, `/admin/tenants/${encodeURIComponent(tenantId)}`, {
      kind: 'ok',
      text: `Custom plan created: product ${result.productId}, price ${result.priceId}.`,
      ...(result.checkoutUrl ? { link: result.checkoutUrl } : {}),
    });
  });
}

/** The audit log, the webhook inbox and drift. */
function operationsRoutes(app: FastifyInstance, kit: ConsoleKit, shared: ConsoleShared): void {
  const { deps, prisma, read, reconcile } = shared;
  app.get('/admin/audit', async (request, reply) => {
    kit.requireAdmin(request);
    const q = parseOrThrow(auditQuery, request.query ?? {}, 'query');
    const source = blank(q.source);
    const page = await listAuditEntries(prisma, {
      ...(q.tenant !== undefined ? { tenantId: q.tenant } : {}),
      ...(source !== undefined ? { source } : {}),
      ...(q.actor !== undefined ? { actor: q.actor } : {}),
      ...(q.before !== undefined ? { before: q.before } : {}),
      limit: PAGE_SIZE,
    });
    return kit.send(
      reply,
      auditPage(kit.ctx(request), {
        filters: { tenant: q.tenant, source, actor: q.actor, before: q.before },
        entries: page.entries,
        nextCursor: page.nextCursor,
      }),
    );
  });

  app.get('/admin/inbox', async (request, reply) => {
    kit.requireAdmin(request);
    const q = parseOrThrow(inboxQuery, request.query ?? {}, 'query');
    const tab: InboxTab = q.status ?? 'recent';
    const page = await listWebhookEvents(read, {
      limit: PAGE_SIZE,
      ...(tab === 'recent' ? {} : { status: tab }),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return kit.send(reply, inboxPage(kit.ctx(request), { tab, ...page, canReplay: true }));
  });

  app.post('/admin/inbox/replay', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const body = request.body as FormBody;
    const selection: ReplaySelection =
      field(body, 'status') === 'failed'
        ? { status: 'failed' }
        : { eventIds: parseOrThrow(replayIds, fields(body, 'eventIds'), 'eventIds') };
    const result = await replayWebhookEvents(prisma, selection);
    request.log.info(
      { actor: actorOf(principal.name), ...result },
      'webhook events replayed from the console',
    );
    // This process's workers pick them up at once; without workers here they are processed now.
    await deps.webhooks?.dispatch({ maxClaims: 100 });
    const skipped = result.notReplayable.length;
    return kit.redirect(reply, '/admin/inbox?status=recent', {
      kind: result.replayed.length > 0 ? 'ok' : 'error',
      text:
        `${result.replayed.length} event${result.replayed.length === 1 ? '' : 's'} replayed` +
        (skipped > 0
          ? `; ${skipped} could not be (unknown, stored without payload, or being processed now)`
          : '') +
        '.',
    });
  });

  app.get('/admin/drift', async (request, reply) => {
    kit.requireAdmin(request);
    let report: ReconcileResult | null = null;
    let error: string | null = null;
    try {
      report = await reconcile({});
    } catch (e) {
      error = messageOf(e);
    }
    const overLimits = await listOverLimits(prisma, databaseCatalog(prisma));
    return kit.send(reply, driftPage(kit.ctx(request), { report, error, fixedNow: null, overLimits }));
  });

  app.post('/admin/drift/fix', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const tenantId = field(request.body as FormBody, 'tenantId');
    const result = await reconcile({
      fix: true,
      actor: actorOf(principal.name),
      ...(tenantId ? { tenantId } : {}),
    });
    const failed = result.failed.filter((f) => f.phase === 'fix');
    const scope = tenantId ? `Tenant ${tenantId}` : `${result.drifting} drifting tenants`;
    return kit.redirect(reply, '/admin/drift', {
      kind: failed.length > 0 ? 'error' : 'ok',
      text: `${scope}: ${result.fixed} fixed${failed.length > 0 ? `, ${failed.length} failed (${failed.map((f) => `${f.tenantId}: ${f.error}`).join('; ')})` : ''}.`,
    });
  });
}

/** The feature catalog. */
function catalogRoutes(app: FastifyInstance, kit: ConsoleKit, shared: ConsoleShared): void {
  const { prisma } = shared;
  app.get('/admin/catalog', async (request, reply) => {
    kit.requireAdmin(request);
    return kit.send(reply, catalogPage(kit.ctx(request), { rows: await listFeatures(prisma) }));
  });

  app.post('/admin/catalog', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const body = request.body as FormBody;
    const entry = await addFeature(
      prisma,
      {
        key: field(body, 'key'),
        type: field(body, 'type') as 'boolean',
        description: field(body, 'description'),
        // A boolean key has no rules: the form's defaults are not sent for it.
        ...(field(body, 'type') === 'number'
          ? {
              combine: (field(body, 'combine') || undefined) as CombineRule | undefined,
              overLimit: (field(body, 'overLimit') || undefined) as OverLimitPolicy | undefined,
            }
          : {}),
      },
      { actor: actorOf(principal.name) },
    );
    return kit.redirect(reply, '/admin/catalog', { kind: 'ok', text: `Feature ${entry.key} added.` });
  });

  app.post('/admin/catalog/describe', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const body = request.body as FormBody;
    const entry = await describeFeature(prisma, field(body, 'key'), field(body, 'description'), {
      actor: actorOf(principal.name),
    });
    return kit.redirect(reply, '/admin/catalog', { kind: 'ok', text: `Description of ${entry.key} saved.` });
  });

  app.post('/admin/catalog/deprecate', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const entry = await deprecateFeature(prisma, field(request.body as FormBody, 'key'), {
      actor: actorOf(principal.name),
    });
    return kit.redirect(reply, '/admin/catalog', { kind: 'ok', text: `Feature ${entry.key} deprecated.` });
  });
}
