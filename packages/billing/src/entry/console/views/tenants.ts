import { html } from '../html.js';
import type { TenantSummary } from '../../../flows/management/index.js';
import { page, query, value, when, type PageContext } from './layout.js';
import { dataTable } from './fragments.js';

export interface TenantListQuery {
  q?: string;
  plan?: string;
  access?: string;
  custom?: string;
  drift?: string;
  after?: string;
}

export function tenantsPage(
  ctx: PageContext,
  d: {
    filters: TenantListQuery;
    bundles: string[];
    rows: TenantSummary[];
    nextCursor: string | null;
    /** With the drift filter: what the reconcile check found, or why it could not run. */
    driftNote: string | null;
  },
) {
  const f = d.filters;
  const option = (v: string, label: string, current: string | undefined) =>
    html`<option value="${v}" ${current === v ? html` selected` : ''}>${label}</option>`;
  return page(
    { ...ctx, section: 'tenants' },
    'Tenants',
    html`<h1>Tenants</h1>
      <form method="get" action="/admin/tenants" class="filters" role="search">
        <div>
          <label for="q">Search</label
          ><input id="q" name="q" type="search" value="${f.q ?? ''}" placeholder="id, name or cus_…" />
        </div>
        <div>
          <label for="plan">Plan</label
          ><select id="plan" name="plan">
            ${option('', 'Any', f.plan)}${option('none', 'No bundle', f.plan)}${d.bundles.map((b) => option(b, b, f.plan))}
          </select>
        </div>
        <div>
          <label for="access">Access</label
          ><select id="access" name="access">
            ${option('', 'Any', f.access)}${option('active', 'Active', f.access)}${option('restricted', 'Restricted', f.access)}
          </select>
        </div>
        <div>
          <label for="custom">Custom plan</label
          ><select id="custom" name="custom">
            ${option('', 'Any', f.custom)}${option('yes', 'Yes', f.custom)}${option('no', 'No', f.custom)}
          </select>
        </div>
        <div>
          <label for="drift">Drift</label
          ><select id="drift" name="drift">
            ${option('', 'Any', f.drift)}${option('yes', 'Drifting from Stripe', f.drift)}
          </select>
        </div>
        <div class="actions"><button type="submit">Filter</button> <a href="/admin/tenants">Reset</a></div>
      </form>
      ${d.driftNote && html`<p class="note">${d.driftNote}</p>`}
      ${dataTable({
        caption: d.rows.length === 0 ? 'No tenant matches' : `Tenants${f.after ? ' (continued)' : ''}`,
        columns: ['Tenant', 'Plan', 'Access', 'Subscription', 'Stripe customer', 'Updated'],
        rows: d.rows.map(
          (t) =>
            html`<tr>
              <td>
                <a href="/admin/tenants/${encodeURIComponent(t.id)}">${t.id}</a>
                <div class="muted small">${t.name}</div>
              </td>
              <td>
                ${value(t.config?.bundle ?? null)}${t.config?.source === 'custom' ? html` <span class="badge">custom</span>` : ''}
              </td>
              <td>
                ${t.config === null ? html`<span class="muted">no config</span>` : value(t.config.accessActive)}
              </td>
              <td>${value(t.config?.subscriptionStatus ?? null)}</td>
              <td>
                ${t.stripeCustomerId ? html`<code>${t.stripeCustomerId}</code>` : html`<span class="muted">unlinked</span>`}
              </td>
              <td>${when(t.config?.updatedAt ?? t.updatedAt)}</td>
            </tr>`,
        ),
      })}
      <nav class="pager" aria-label="Pages">
        ${f.after && html`<a href="/admin/tenants${query({ ...f, after: undefined })}">First page</a>`}
        ${d.nextCursor && html`<a href="/admin/tenants${query({ ...f, after: d.nextCursor })}" rel="next">Next page</a>`}
      </nav>`,
  );
}
