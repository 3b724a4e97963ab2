import type { PlanStatistics, StripeSyncStats } from '../../stripe-sync/index.js';
import { html } from '../html.js';
import type { TenantCounts, WebhookFigures } from '../queries.js';
import { page, when, type PageContext } from './layout.js';
import { dataTable } from './fragments.js';

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
        <dl class="figures">
          <div>
            <dt>Tenants</dt>
            <dd>${counts.tenants}</dd>
          </div>
          <div>
            <dt>With a feature config</dt>
            <dd>${counts.configured}</dd>
          </div>
          <div>
            <dt>Restricted (no access)</dt>
            <dd>${counts.restricted}</dd>
          </div>
          <div>
            <dt>In payment grace</dt>
            <dd>${counts.inPaymentGrace}</dd>
          </div>
          <div>
            <dt>On a custom plan</dt>
            <dd>${counts.customPlans}</dd>
          </div>
        </dl>
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
            ? html`<dl class="figures">
                  <div>
                    <dt>Products</dt>
                    <dd>${plans.totalProducts}</dd>
                  </div>
                  <div>
                    <dt>Active products</dt>
                    <dd>${plans.activeProducts}</dd>
                  </div>
                  <div>
                    <dt>With features</dt>
                    <dd>${plans.productsWithFeatures}</dd>
                  </div>
                  <div>
                    <dt>Custom plans</dt>
                    <dd>${plans.customPlans}</dd>
                  </div>
                  <div>
                    <dt>Prices</dt>
                    <dd>${plans.totalPrices}</dd>
                  </div>
                  <div>
                    <dt>Prices with lookup key</dt>
                    <dd>${plans.pricesWithLookupKey}</dd>
                  </div>
                </dl>
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
        <dl class="figures">
          <div>
            <dt>Events in the last 24 h</dt>
            <dd>${webhooks.lastDay}</dd>
          </div>
          <div>
            <dt>Last event received</dt>
            <dd>${when(webhooks.lastReceivedAt)}</dd>
          </div>
          ${['pending', 'processing', 'processed', 'ignored', 'failed'].map(
            (s) =>
              html`<div${s === 'failed' && failed > 0 ? html` class="alert"` : ''}><dt><a href="/admin/inbox?status=${s}">${s}</a></dt><dd>${webhooks.byStatus[s] ?? 0}</dd></div>`,
          )}
          ${
            d.stripeStats &&
            html`<div>
                <dt>Stripe requests (this process)</dt>
                <dd>${d.stripeStats.stripeRequests}</dd>
              </div>
              <div>
                <dt>Plan cache hits / misses</dt>
                <dd>${d.stripeStats.cacheHits} / ${d.stripeStats.cacheMisses}</dd>
              </div>
              <div>
                <dt>Retries / rate limited</dt>
                <dd>${d.stripeStats.retries} / ${d.stripeStats.rateLimited}</dd>
              </div>`
          }
        </dl>
      </section>`,
  );
}
