import type { UsageAlertRow, UsageMeterReportState } from '../../../flows/usage/index.js';
import { html, type Html } from '../html.js';
import { csrfField, value, when, type PageContext } from './layout.js';
import { dataTable } from './fragments.js';

/**
 * What the usage of a tenant sent out (docs/usage.md): its threshold alerts to the host's
 * USAGE_WEBHOOK_URL, replayable, and its Stripe meter reporting. Admins only.
 */

/** A row under a live lease is being sent; every other one may be made due again. */
const replayable = (a: UsageAlertRow) => a.status !== 'sending';

export function usageAlertsPanel(ctx: PageContext, alerts: UsageAlertRow[], id: string): Html {
  return html`<section aria-labelledby="h-usage-alerts">
    <h2 id="h-usage-alerts">Usage alert deliveries</h2>
    ${
      alerts.length === 0
        ? html`<p class="muted">No alert recorded for this tenant.</p>`
        : dataTable({
            caption: html`The ${alerts.length} most recent, newest first`,
            className: 'usage-alerts',
            columns: [
              'Alert',
              'Status',
              { label: 'Used / limit', className: 'num' },
              { label: 'Tries', className: 'num' },
              'Last error',
              'Recorded',
              html`<span class="sr-only">Actions</span>`,
            ],
            rows: alerts.map(
              (a) =>
                html`<tr${a.status === 'failed' ? html` class="failed"` : ''}>
                  <th scope="row">
                    <code>evt_usage_${a.id}</code>
                    <div class="muted small">${a.type}: <code>${a.key}</code> at ${a.threshold} %</div>
                  </th>
                  <td>
                    <span class="badge ${a.status === 'failed' ? 'warn' : ''}">${a.status}</span>
                    ${a.status === 'delivered' && html`<div class="muted small">${when(a.deliveredAt)}</div>`}
                    ${
                      a.status === 'pending' &&
                      html`<div class="muted small">due ${when(a.nextAttemptAt)}</div>`
                    }
                  </td>
                  <td class="num">${a.used} / ${a.limit}</td>
                  <td class="num">${a.attempts}</td>
                  <td>${a.lastError ? html`<span class="reason">${a.lastError}</span>` : value(null)}</td>
                  <td>${when(a.createdAt)}</td>
                  <td>
                    ${
                      replayable(a) &&
                      html`<form
                        method="post"
                        action="/admin/tenants/${id}/usage/alerts/replay"
                        data-confirm="Send alert evt_usage_${a.id} to the host again?"
                      >
                        ${csrfField(ctx)}<input type="hidden" name="alertId" value="${a.id}" /><button
                          type="submit"
                          class="secondary"
                          aria-label="Replay alert evt_usage_${a.id}"
                        >
                          Replay
                        </button>
                      </form>`
                    }
                  </td>
                </tr>`,
            ),
          })
    }
  </section>`;
}

export function meterReportsPanel(reports: UsageMeterReportState[]): Html {
  return html`<section aria-labelledby="h-usage-meters">
    <h2 id="h-usage-meters">Stripe meter reporting</h2>
    ${dataTable({
      caption: 'Per counter: what Stripe was sent, what is left to send',
      className: 'usage-meters',
      columns: [
        'Metered feature',
        'Period',
        { label: 'Owed', className: 'num' },
        { label: 'Sent', className: 'num' },
        { label: 'Pending', className: 'num' },
        'Sending',
        'Last error',
      ],
      rows: reports.map(
        (r) =>
          html`<tr${r.lastError ? html` class="failed"` : ''}>
            <th scope="row">
              <code>${r.key}</code>
              <div class="muted small">
                ${r.meter ? html`meter <code>${r.meter}</code> (${r.report})` : 'no longer reported'}
              </div>
            </th>
            <td>${when(r.periodStart)}</td>
            <td class="num">${r.owed}</td>
            <td class="num">${r.reported}</td>
            <td class="num">${r.pending}</td>
            <td>
              ${
                r.sendingTo === null
                  ? value(null)
                  : html`units ${r.reported + 1}–${r.sendingTo}, try
                    ${r.attempts}${
                      r.nextAttemptAt && html`<div class="muted small">next ${when(r.nextAttemptAt)}</div>`
                    }`
              }
            </td>
            <td>${r.lastError ? html`<span class="reason">${r.lastError}</span>` : value(null)}</td>
          </tr>`,
      ),
    })}
  </section>`;
}
