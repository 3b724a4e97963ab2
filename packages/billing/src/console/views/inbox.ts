import { html } from '../html.js';
import type { LedgerEventRow } from '../queries.js';
import { csrfField, page, value, when, type PageContext } from './layout.js';

export const INBOX_TABS = ['recent', 'pending', 'failed', 'processing', 'processed', 'ignored'] as const;
export type InboxTab = (typeof INBOX_TABS)[number];

export function inboxPage(
  ctx: PageContext,
  d: { tab: InboxTab; rows: LedgerEventRow[]; canReplay: boolean; note: string | null },
) {
  const replayable = d.canReplay && d.rows.some((r) => r.status === 'failed' || r.status === 'pending');
  const table = html`<div class="table-wrap">
    <table>
      <caption>
        ${d.rows.length} event${d.rows.length === 1 ? '' : 's'} (${d.tab})
      </caption>
      <thead>
        <tr>
          ${
            replayable &&
            html`<th scope="col">
              <label class="check"
                ><input type="checkbox" data-select-all="eventIds" /><span class="sr-only"
                  >Select all</span
                ></label
              >
            </th>`
          }
          <th scope="col">Event</th>
          <th scope="col">Status</th>
          <th scope="col">Tenant</th>
          <th scope="col">Reason / action</th>
          <th scope="col" class="num">Attempts</th>
          <th scope="col">Received</th>
        </tr>
      </thead>
      <tbody>
        ${d.rows.map(
          (r) => html`<tr${r.status === 'failed' ? html` class="failed"` : ''}>
  ${replayable && html`<td>${(r.status === 'failed' || r.status === 'pending') && html`<label class="check"><input type="checkbox" name="eventIds" value="${r.eventId}" /><span class="sr-only">Select ${r.eventId}</span></label>`}</td>`}
  <td><code>${r.eventId}</code><div class="muted small">${r.type}</div></td>
  <td><span class="badge ${r.status === 'failed' ? 'warn' : ''}">${r.status}</span></td>
  <td>${r.tenantId ? html`<a href="/admin/tenants/${encodeURIComponent(r.tenantId)}">${r.tenantId}</a>` : value(null)}</td>
  <td>${r.error ? html`<span class="reason">${r.error}</span>` : value(r.action)}</td>
  <td class="num">${r.attempts}</td>
  <td>${when(r.receivedAt)}</td>
</tr>`,
        )}
      </tbody>
    </table>
  </div>`;
  return page(
    { ...ctx, section: 'inbox' },
    'Webhook inbox',
    html`<h1>Webhook inbox</h1>
      <nav class="tabs" aria-label="Event status">
        <ul>
          ${INBOX_TABS.map(
            (t) =>
              html`<li>
                <a href="/admin/inbox?status=${t}" ${d.tab === t ? html` aria-current="page"` : ''}>${t}</a>
              </li>`,
          )}
        </ul>
      </nav>
      ${d.note && html`<p class="note">${d.note}</p>`}
      ${
        replayable
          ? html`<form method="post" action="/admin/inbox/replay" data-confirm="Replay the selected events?">
              ${csrfField(ctx)} ${table}
              <button type="submit">Replay selected</button>
            </form>`
          : table
      }`,
  );
}
