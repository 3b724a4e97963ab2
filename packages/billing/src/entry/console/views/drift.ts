import type { ReconcileResult, TenantDrift } from '../../../flows/reconcile/index.js';
import { html } from '../html.js';
import type { OverLimitEntry } from '../../../flows/features/over-limit.js';
import { csrfField, page, value, when, type PageContext } from './layout.js';
import { dataTable, figures } from './fragments.js';

function driftDetails(d: TenantDrift) {
  const lines: Array<[string, unknown, unknown]> = [
    ...[...d.diff.added, ...d.diff.removed, ...d.diff.changed]
      .sort()
      .map((k): [string, unknown, unknown] => [
        `features.${k}`,
        d.actual?.features[k],
        d.expected.features[k],
      ]),
    ...d.diff.fields.map((f): [string, unknown, unknown] => [
      f,
      d.actual ? d.actual[f] : undefined,
      d.expected[f],
    ]),
  ];
  return html`<ul class="diff-lines">
    ${lines.map(
      ([path, actual, expected]) =>
        html`<li>
          <code>${path}</code>: stored ${value(actual as never)} → Stripe implies ${value(expected as never)}
        </li>`,
    )}
  </ul>`;
}

export function driftPage(
  ctx: PageContext,
  d: {
    report: ReconcileResult | null;
    error: string | null;
    fixedNow: ReconcileResult | null;
    overLimits?: OverLimitEntry[];
  },
) {
  const r = d.report;
  const omitted = r?.omitted ?? { drift: 0, failed: 0, skipped: 0 };
  const skippedTotal = r ? Object.values(r.skippedByReason).reduce((n, k) => n + k, 0) : 0;
  return page(
    { ...ctx, section: 'drift' },
    'Drift',
    html`<h1>Drift between the database and Stripe</h1>
      <p>
        Each tenant's stored entitlements are compared with what Stripe implies now, by the webhook rules
        (<code>reconcileTenants</code>). A fix writes what Stripe implies, with an audit entry (source
        <code>sync</code>, action <code>reconcile</code>).
      </p>
      ${d.error && html`<p class="flash error" role="alert">The check failed: ${d.error}</p>`}
      ${
        r &&
        html`${figures([
          ['Checked', r.checked],
          ['In sync', r.inSync],
          ['Drifting', r.drifting, r.drifting > 0 ? 'alert' : null],
          ['Failed', r.failed.length + omitted.failed],
          ['Skipped', skippedTotal],
          ['Stripe requests', r.stripeRequests],
        ])}
        ${
          r.drift.length > 0
            ? html`<form
                  method="post"
                  action="/admin/drift/fix"
                  data-confirm="Fix all ${r.drifting} drifting tenants?"
                >
                  ${csrfField(ctx)}<button type="submit">Fix all drifting tenants</button>
                </form>
                ${
                  omitted.drift > 0 &&
                  html`<p class="muted">The first ${r.drift.length} of ${r.drifting} are listed.</p>`
                }
                ${dataTable({
                  columns: ['Tenant', 'Differences', html`<span class="sr-only">Actions</span>`],
                  rows: r.drift.map(
                    (t) =>
                      html`<tr>
                        <td>
                          <a href="/admin/tenants/${encodeURIComponent(t.tenantId)}">${t.tenantId}</a>
                          <div class="muted small">${t.customerId}</div>
                        </td>
                        <td>${driftDetails(t)}</td>
                        <td>
                          <form method="post" action="/admin/drift/fix">
                            ${csrfField(ctx)}<input
                              type="hidden"
                              name="tenantId"
                              value="${t.tenantId}"
                            /><button type="submit" class="secondary" aria-label="Fix ${t.tenantId}">
                              Fix
                            </button>
                          </form>
                        </td>
                      </tr>`,
                  ),
                })}`
            : html`<p class="flash ok" role="status">No drift: every checked tenant matches Stripe.</p>`
        }
        ${
          r.failed.length > 0 &&
          dataTable({
            caption: 'Failures',
            columns: ['Tenant', 'Phase', 'Code', 'Error'],
            rows: r.failed.map(
              (f) =>
                html`<tr>
                  <td>${value(f.tenantId)}</td>
                  <td>${f.phase}</td>
                  <td><code>${f.code}</code></td>
                  <td>${f.error}</td>
                </tr>`,
            ),
          })
        }
        ${
          r.skipped.length > 0 &&
          html`<details>
            <summary>
              ${skippedTotal} skipped${omitted.skipped > 0 ? ` (the first ${r.skipped.length} listed)` : ''}
            </summary>
            <ul>
              ${r.skipped.map((s) => html`<li>${s.tenantId ?? s.customerId}: ${s.reason}</li>`)}
            </ul>
          </details>`
        }`
      }
      ${d.overLimits && overLimitTable(d.overLimits)}`,
  );
}

/** Usage above a lowered limit: not drift (Stripe and the database agree), the catalog policy's business. */
function overLimitTable(entries: OverLimitEntry[]) {
  return html`<h2>Over the limit</h2>
    <p>
      Tenants whose reported usage (<code>checkLimit</code>, or a metered key's counter) is above their
      current limit, and what each key's over-limit policy lets them do.
    </p>
    ${
      entries.length === 0
        ? html`<p class="muted">No tenant is above a limit.</p>`
        : dataTable({
            columns: ['Tenant', 'Key', 'Used', 'Limit', 'Policy', 'Since', 'New ones'],
            rows: entries.map(
              (e) =>
                html`<tr>
                  <td><a href="/admin/tenants/${encodeURIComponent(e.tenantId)}">${e.tenantId}</a></td>
                  <td><code>${e.key}</code></td>
                  <td>${e.used}</td>
                  <td>${e.limit}</td>
                  <td><code>${e.policy ?? 'block_new'}</code></td>
                  <td>${when(e.since)}</td>
                  <td>
                    ${e.allowed ? (e.graceEndsAt ? html`allowed until ${when(e.graceEndsAt)}` : 'allowed') : 'refused'}
                  </td>
                </tr>`,
            ),
          })
    }`;
}
