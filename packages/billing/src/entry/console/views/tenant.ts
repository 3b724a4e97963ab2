import { randomUUID } from 'node:crypto';
import type { ApplyPlanResult } from '../../../flows/feature-sync/index.js';
import type { FeatureRow, TenantFeatureState } from '../../../core/index.js';
import type { FeatureDefinition } from '../../../core/types.js';
import type { AuditEntry } from '../../../io/audit/index.js';
import type { UsageAlertRow, UsageMeter, UsageMeterReportState } from '../../../flows/usage/index.js';
import { html, type Html } from '../html.js';
import type { CustomPlanRow } from '../../../flows/custom-plans/index.js';
import { auditTimeline } from './audit.js';
import { copyable, csrfField, isAdmin, page, value, when, type PageContext } from './layout.js';
import { dataTable, figures } from './fragments.js';
import { meterReportsPanel, usageAlertsPanel } from './usage-outbox.js';

export interface TenantPageData {
  tenant: { id: string; name: string; stripeCustomerId: string | null };
  state: TenantFeatureState | null;
  rows: FeatureRow[];
  /** Set when plan and price values could not be told apart (Stripe unreadable). */
  provenanceNote: string | null;
  graceEndsAt: Date | null;
  customPlans: CustomPlanRow[];
  recentAudit: AuditEntry[];
  catalog: FeatureDefinition[];
  /** Whether overrides can be changed on this server (the library service is wired). */
  canEditOverrides: boolean;
  /** The tenant's metered keys (docs/usage.md); null when this server has no usage service. */
  usage: UsageMeter[] | null;
  /** Admins: the tenant's recent usage alerts (null: none shown, no key is metered). */
  usageAlerts: UsageAlertRow[] | null;
  /** Admins: the tenant's Stripe meter reporting per counter (shown when there is any). */
  meterReports: UsageMeterReportState[];
}

const ORIGIN_LABEL: Record<FeatureRow['origin'], string> = {
  override: 'override',
  plan: 'plan (product)',
  price: 'price',
  kept: 'kept from an earlier plan',
};

export function tenantPage(ctx: PageContext, d: TenantPageData) {
  const admin = isAdmin(ctx);
  const s = d.state;
  const id = encodeURIComponent(d.tenant.id);
  return page(
    { ...ctx, section: 'tenants' },
    d.tenant.id,
    html`<h1>
        ${d.tenant.name}${d.tenant.name !== d.tenant.id && html` <span class="muted small">${d.tenant.id}</span>`}
      </h1>
      <section aria-labelledby="h-status" class="card">
        <h2 id="h-status">Plan and subscription</h2>
        ${
          s
            ? figures([
                [
                  'Plan (bundle)',
                  html`${value(s.bundle)}${s.source === 'custom' ? html` <span class="badge">custom</span>` : ''}`,
                ],
                [
                  'Access',
                  s.accessActive
                    ? html`<span class="bool on">active</span>`
                    : html`<span class="bool off">restricted</span>`,
                ],
                ['Subscription status', value(s.subscriptionStatus)],
                [
                  'Payment grace',
                  s.paymentFailedAt
                    ? html`payment failed ${when(s.paymentFailedAt)};
                      ${s.accessActive ? html`grace ends ${when(d.graceEndsAt)}` : 'grace over'}`
                    : html`<span class="muted">no failed payment</span>`,
                  d.graceEndsAt ? 'alert' : null,
                ],
                ['Trial ends', when(s.trialEndsAt)],
                [
                  'Stripe customer',
                  d.tenant.stripeCustomerId
                    ? html`<code>${d.tenant.stripeCustomerId}</code>`
                    : html`<span class="muted">unlinked</span>`,
                ],
                admin && ['Price', s.stripePriceId ? html`<code>${s.stripePriceId}</code>` : value(null)],
                admin && [
                  'Subscription',
                  s.stripeSubscriptionId ? html`<code>${s.stripeSubscriptionId}</code>` : value(null),
                ],
                admin && ['Config version', html`${s.version} (${when(s.updatedAt)})`],
              ])
            : html`<p>
                No feature configuration yet: every feature is off until a plan is applied or Stripe sends an
                event.
              </p>`
        }
      </section>

      <section aria-labelledby="h-features">
        <h2 id="h-features">Effective features</h2>
        ${d.provenanceNote && html`<p class="note">${d.provenanceNote}</p>`}
        ${s && !s.accessActive && html`<p class="flash error">Access is restricted: every value below is forced off (0) until the subscription grants access again.</p>`}
        ${dataTable({
          className: 'features',
          columns: [
            'Feature',
            'Value',
            admin && 'Comes from',
            admin && 'Configured',
            admin && d.canEditOverrides && html`<span class="sr-only">Actions</span>`,
          ],
          rows: d.rows.map(
            (r) =>
              html`<tr>
                <th scope="row">
                  <code>${r.key}</code
                  >${r.deprecated ? html` <span class="badge warn">deprecated</span>` : ''}${r.description && html`<div class="muted small">${r.description}</div>`}
                </th>
                <td>
                  ${value(r.effective)}${r.restrictedByAccess ? html` <span class="badge warn">restricted by access</span>` : ''}
                </td>
                ${
                  admin &&
                  html`<td><span class="origin ${r.origin}">${ORIGIN_LABEL[r.origin]}</span></td>
                    <td>${value(r.configured)}</td>
                    ${
                      d.canEditOverrides &&
                      html`<td>
                        ${
                          r.origin === 'override' &&
                          html`<form
                            method="post"
                            action="/admin/tenants/${id}/overrides/clear"
                            data-confirm="Clear the override of ${r.key}?"
                          >
                            ${csrfField(ctx)}<input type="hidden" name="key" value="${r.key}" /><button
                              type="submit"
                              class="secondary"
                              aria-label="Clear override ${r.key}"
                            >
                              Clear override
                            </button>
                          </form>`
                        }
                      </td>`
                    }`
                }
              </tr>`,
          ),
        })}
        ${d.rows.length === 0 && html`<p class="muted">No features.</p>`}
      </section>

      ${d.usage && d.usage.length > 0 && usagePanel(ctx, d.usage, id)}
      ${admin && d.usageAlerts && usageAlertsPanel(ctx, d.usageAlerts, id)}
      ${admin && d.meterReports.length > 0 && meterReportsPanel(d.meterReports)}
      ${admin && adminForms(ctx, d, id)}
      ${
        admin &&
        html`<section aria-labelledby="h-audit">
          <h2 id="h-audit">Recent changes</h2>
          ${auditTimeline(d.recentAudit, { showTenant: false })}
          <p><a href="/admin/audit?tenant=${id}">Full history of ${d.tenant.id}</a></p>
        </section>`
      }`,
  );
}

/** Used against the limit in the current period, per metered key; an admin can reset a counter. */
function usagePanel(ctx: PageContext, meters: UsageMeter[], id: string): Html {
  const admin = isAdmin(ctx);
  const amount = (n: number | null) => (n === null ? html`<span class="muted">unlimited</span>` : n);
  return html`<section aria-labelledby="h-usage">
    <h2 id="h-usage">Usage</h2>
    ${dataTable({
      className: 'usage',
      columns: [
        'Metered feature',
        { label: 'Used', className: 'num' },
        { label: 'Limit', className: 'num' },
        { label: 'Remaining', className: 'num' },
        { label: 'Reserved', className: 'num' },
        { label: 'Overage', className: 'num' },
        'Period',
        admin && html`<span class="sr-only">Actions</span>`,
      ],
      rows: meters.map(
        (m) =>
          html`<tr>
            <th scope="row">
              <code>${m.key}</code>
              ${m.overLimit ? html` <span class="badge warn">over the limit</span>` : ''}
              ${m.entitled ? '' : html` <span class="badge">not entitled</span>`}
              <div class="muted small">resets: ${m.reset}, overage: ${m.policy}</div>
            </th>
            <td class="num">${m.used}</td>
            <td class="num">${m.entitled ? amount(m.limit) : 0}</td>
            <td class="num">${amount(m.remaining)}</td>
            <td class="num">${m.reserved}</td>
            <td class="num">${m.overage}</td>
            <td>
              ${when(m.periodStart)} –
              ${m.periodEnd ? when(m.periodEnd) : html`<span class="muted">open</span>`}
            </td>
            ${
              admin &&
              html`<td>
                ${
                  (m.used > 0 || m.overage > 0) &&
                  html`<form
                    method="post"
                    action="/admin/tenants/${id}/usage/reset"
                    data-confirm="Reset the usage of ${m.key} to 0 for this period?"
                  >
                    ${csrfField(ctx)}<input type="hidden" name="key" value="${m.key}" /><button
                      type="submit"
                      class="secondary"
                      aria-label="Reset usage ${m.key}"
                    >
                      Reset
                    </button>
                  </form>`
                }
              </td>`
            }
          </tr>`,
      ),
    })}
  </section>`;
}

function adminForms(ctx: PageContext, d: TenantPageData, id: string): Html {
  return html`<div class="grid">
    <section aria-labelledby="h-override" class="card">
      <h2 id="h-override">Set an override</h2>
      ${
        d.canEditOverrides
          ? html`<form method="post" action="/admin/tenants/${id}/overrides">
              ${csrfField(ctx)}
              <label for="ov-key">Feature</label>
              <select id="ov-key" name="key" required>
                ${d.catalog.map((f) => html`<option value="${f.key}">${f.key} (${f.type})</option>`)}
              </select>
              <label for="ov-value">Value</label>
              <input
                id="ov-value"
                name="value"
                required
                placeholder="true, false or a number"
                aria-describedby="ov-help"
              />
              <p id="ov-help" class="muted small">
                Overrides win over the plan and survive plan changes (merge strategy).
              </p>
              <button type="submit">Set override</button>
            </form>`
          : html`<p class="note">
              Overrides cannot be changed from this server: the override service is not available.
            </p>`
      }
    </section>

    <section aria-labelledby="h-apply" class="card">
      <h2 id="h-apply">Apply a plan</h2>
      <form method="get" action="/admin/tenants/${id}/apply-plan">
        <label for="ap-plan">Plan (product id, price id or lookup key)</label>
        <input id="ap-plan" name="planId" required placeholder="price_… or pro_monthly" />
        <label for="ap-strategy">Merge strategy</label>
        <select id="ap-strategy" name="mergeStrategy">
          <option value="merge">merge: plan, then overrides on top</option>
          <option value="replace">replace: plan only, overrides dropped</option>
          <option value="preserve">preserve: only add missing keys</option>
        </select>
        <label class="check"
          ><input type="checkbox" name="force" value="true" /> Force (even over a custom plan)</label
        >
        <button type="submit">Preview the change</button>
      </form>
    </section>

    <section aria-labelledby="h-custom" class="card">
      <h2 id="h-custom">Custom enterprise plan</h2>
      <form
        method="post"
        action="/admin/tenants/${id}/custom-plans"
        data-confirm="Create this plan in Stripe?"
      >
        ${csrfField(ctx)}
        <input type="hidden" name="idempotencyKey" value="${randomUUID()}" />
        <label for="cp-name">Plan name</label><input id="cp-name" name="planName" required maxlength="200" />
        <label for="cp-base">Base plan (product id, price id or lookup key)</label
        ><input id="cp-base" name="basePlanId" required />
        <div class="row">
          <div>
            <label for="cp-price">Price (cents)</label
            ><input
              id="cp-price"
              name="priceCents"
              type="number"
              min="0"
              step="1"
              required
              inputmode="numeric"
            />
          </div>
          <div>
            <label for="cp-cur">Currency</label
            ><input id="cp-cur" name="currency" value="usd" required maxlength="3" size="4" />
          </div>
          <div>
            <label for="cp-int">Interval</label
            ><select id="cp-int" name="recurringInterval">
              <option>month</option>
              <option>year</option>
              <option>week</option>
              <option>day</option>
            </select>
          </div>
        </div>
        <label for="cp-ov">Feature overrides (one <code>key=value</code> per line)</label>
        <textarea id="cp-ov" name="overrides" rows="3" placeholder="max_users=250&#10;sso=true"></textarea>
        <label class="check"
          ><input type="checkbox" name="createCheckoutSession" value="true" checked /> Create a checkout
          link</label
        >
        <button type="submit">Create custom plan</button>
      </form>
      ${
        d.customPlans.length > 0 &&
        html`<h3>Custom plans</h3>
          <ul class="plain">
            ${d.customPlans.map(
              (p) =>
                html`<li>
                  <strong>${p.planName}</strong>
                  <span class="badge">${p.status}</span> ${(p.priceCents / 100).toFixed(2)}
                  ${p.currency.toUpperCase()}/${p.interval} ${when(p.createdAt)}
                  ${p.error && html`<div class="muted small">${p.error}</div>`}
                  ${p.checkoutUrl && copyable(p.checkoutUrl, `Checkout link${p.checkoutExpiresAt ? ` (expires ${p.checkoutExpiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC)` : ''}`)}
                </li>`,
            )}
          </ul>`
      }
    </section>
  </div>`;
}

export function applyPreviewPage(
  ctx: PageContext,
  d: {
    tenantId: string;
    planId: string;
    mergeStrategy: string;
    force: boolean;
    result: ApplyPlanResult;
    lines: Array<{ key: string; kind: 'added' | 'removed' | 'changed'; before: unknown; after: unknown }>;
  },
) {
  const id = encodeURIComponent(d.tenantId);
  const r = d.result;
  return page(
    { ...ctx, section: 'tenants' },
    `Apply ${d.planId}`,
    html`<h1>Apply <code>${d.planId}</code> to <a href="/admin/tenants/${id}">${d.tenantId}</a></h1>
      <p>
        Dry run with strategy <strong>${d.mergeStrategy}</strong>${d.force ? ' (forced)' : ''}: nothing has
        been written yet.
      </p>
      ${
        !r.success
          ? html`<p class="flash error" role="alert">
              The plan would not be applied: ${r.reason ?? 'unknown reason'}.
            </p>`
          : !r.changed
            ? html`<p class="flash ok" role="status">
                No change: the tenant already has exactly these features.
              </p>`
            : dataTable({
                caption: 'Feature changes',
                className: 'diff',
                columns: ['Feature', 'Before', 'After'],
                rows: d.lines.map(
                  (l) =>
                    html`<tr class="${l.kind}">
                      <th scope="row"><code>${l.key}</code> <span class="badge">${l.kind}</span></th>
                      <td>${value(l.before as never)}</td>
                      <td>${value(l.after as never)}</td>
                    </tr>`,
                ),
              })
      }
      ${
        r.success &&
        html`<form
          method="post"
          action="/admin/tenants/${id}/apply-plan"
          data-confirm="Apply ${d.planId} to ${d.tenantId}?"
        >
          ${csrfField(ctx)}
          <input type="hidden" name="planId" value="${d.planId}" />
          <input type="hidden" name="mergeStrategy" value="${d.mergeStrategy}" />
          ${d.force && html`<input type="hidden" name="force" value="true" />`}
          <button type="submit">Apply plan</button> <a href="/admin/tenants/${id}">Cancel</a>
        </form>`
      }`,
  );
}
