import type { PlanStatistics, StripeSyncStats } from '../../../io/stripe-sync/index.js';
import { html } from '../html.js';
import type { TenantCounts } from '../../../io/tenant-store/index.js';
import type { WebhookFigures } from '../../../flows/webhooks/index.js';
import { page, when, type PageContext } from './layout.js';
import { dataTable, figures, type Figure } from './fragments.js';

export interface OverviewData {
  counts: TenantCounts;
  webhooks: WebhookFigures;
  /** Null with `planError` when Stripe could not be read. */
  plans: PlanStatistics | null;
  planError: string | null;
  stripeStats: Readonly<StripeSyncStats> | null;
}

export function overviewPage(ctx: PageContext, d: OverviewData) {
  const { counts, webhooks, plans } = d;
  const failed = webhooks.byStatus.failed ?? 0;
  return page(
    ctx,
    'Overview',
    html`<h1>Overview</h1>
      <section aria-labelledby="h-tenants">
        <h2 id="h-tenants">Tenants</h2>
        ${figures([
          ['Tenants', counts.tenants],
          ['With a feature config', counts.configured],
          ['Restricted (no access)', counts.restricted],
          ['In payment grace', counts.inPaymentGrace],
          ['On a custom plan', counts.customPlans],
        ])}
        ${dataTable({
          caption: 'Tenants per plan',
          columns: ['Plan (bundle)', { label: 'Tenants', className: 'num' }],
          rows: counts.perPlan.map(
            (p) =>
              html`<tr>
                <td>
                  ${p.bundle === null ? html`<span class="muted">no bundle</span>` : html`<a href="/admin/tenants?plan=${encodeURIComponent(p.bundle)}">${p.bundle}</a>`}
                </td>
                <td class="num">${p.tenants}</td>
              </tr>`,
          ),
        })}
      </section>
      <section aria-labelledby="h-plans">
        <h2 id="h-plans">Stripe catalogue (getPlanStatistics)</h2>
        ${
          plans
            ? html`${figures([
                  ['Products', plans.totalProducts],
                  ['Active products', plans.activeProducts],
                  ['With features', plans.productsWithFeatures],
                  ['Custom plans', plans.customPlans],
                  ['Prices', plans.totalPrices],
                  ['Prices with lookup key', plans.pricesWithLookupKey],
                ])}
                <p>
                  Products per bundle:
                  ${Object.entries(plans.bundles)
                    .sort()
                    .map(([b, n], i) => html`${i > 0 ? ', ' : ''}<strong>${b}</strong> ${n}`)}
                </p>
                ${
                  plans.invalidProducts.length > 0 &&
                  dataTable({
                    caption: 'Products with invalid metadata',
                    columns: ['Product', 'Problem'],
                    rows: plans.invalidProducts.map(
                      (p) =>
                        html`<tr>
                          <td><code>${p.id}</code></td>
                          <td>${p.error}</td>
                        </tr>`,
                    ),
                  })
                }`
            : html`<p class="flash error" role="alert">Stripe could not be read: ${d.planError}</p>`
        }
      </section>
      <section aria-labelledby="h-health">
        <h2 id="h-health">Sync and webhook health</h2>
        ${figures([
          ['Events in the last 24 h', webhooks.lastDay],
          ['Last event received', when(webhooks.lastReceivedAt)],
          ...['pending', 'processing', 'processed', 'ignored', 'failed'].map((s): Figure => [
            html`<a href="/admin/inbox?status=${s}">${s}</a>`,
            webhooks.byStatus[s] ?? 0,
            s === 'failed' && failed > 0 ? 'alert' : null,
          ]),
          d.stripeStats && ['Stripe requests (this process)', d.stripeStats.stripeRequests],
          d.stripeStats && [
            'Plan cache hits / misses',
            `${d.stripeStats.cacheHits} / ${d.stripeStats.cacheMisses}`,
          ],
          d.stripeStats && [
            'Retries / rate limited',
            `${d.stripeStats.retries} / ${d.stripeStats.rateLimited}`,
          ],
        ])}
      </section>`,
  );
}
