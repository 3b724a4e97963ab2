import { html } from '../html.js';
import type { InboxEvent } from '../../../flows/webhooks/index.js';
import { csrfField, page, value, when, type PageContext } from './layout.js';
import { dataTable } from './fragments.js';

/** `recent` is every status; the others are the inbox's own statuses. */
export const INBOX_TABS = ['recent', 'pending', 'processing', 'failed', 'processed', 'ignored'] as const;
export type InboxTab = (typeof INBOX_TABS)[number];

/** A row under a live lease is being worked on; everything else may be made due again. */
const replayable = (e: InboxEvent) => e.status !== 'processing';

export function inboxPage(
  ctx: PageContext,
  d: { tab: InboxTab; events: InboxEvent[]; nextCursor: string | null; canReplay: boolean },
) {
  const selectable = d.canReplay && d.events.some(replayable);
  const table = dataTable({
    caption: html`${d.events.length} event${d.events.length === 1 ? '' : 's'} (${d.tab})`,
    columns: [
      selectable &&
        html`<label class="check"
          ><input type="checkbox" data-select-all="eventIds" /><span class="sr-only">Select all</span></label
        >`,
      'Event',
      'Status',
      'Tenant',
      'Reason / action',
      { label: 'Deliveries', className: 'num' },
      { label: 'Tries', className: 'num' },
      'Received',
    ],
    rows: d.events.map((e) => {
      const reason = e.lastError ?? e.error;
      return html`<tr${e.status === 'failed' ? html` class="failed"` : ''}>
  ${selectable && html`<td>${replayable(e) && html`<label class="check"><input type="checkbox" name="eventIds" value="${e.eventId}" /><span class="sr-only">Select ${e.eventId}</span></label>`}</td>`}
  <td><code>${e.eventId}</code><div class="muted small">${e.type}</div></td>
  <td><span class="badge ${e.status === 'failed' ? 'warn' : ''}">${e.status}</span>${e.status === 'pending' && e.nextAttemptAt && html`<div class="muted small">due ${when(e.nextAttemptAt)}</div>`}</td>
  <td>${e.tenantId ? html`<a href="/admin/tenants/${encodeURIComponent(e.tenantId)}">${e.tenantId}</a>` : e.customerId ? html`<code title="Stripe customer (tenant not resolved yet)">${e.customerId}</code>` : value(null)}</td>
  <td>${reason ? html`<span class="reason">${reason}</span>` : value(e.action)}</td>
  <td class="num">${e.attempts}</td>
  <td class="num">${e.processingAttempts}</td>
  <td>${when(e.receivedAt)}</td>
</tr>`;
    }),
  });
  const more =
    d.nextCursor &&
    html`<p>
      <a href="/admin/inbox?status=${d.tab}&amp;cursor=${encodeURIComponent(d.nextCursor)}">Older events</a>
    </p>`;
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
      <p class="note">
        A replay makes an event due again: a worker re-reads Stripe and applies what Stripe says now, so
        replaying an event that was already processed is harmless.
      </p>
      ${
        d.canReplay && d.tab === 'failed' && d.events.length > 0
          ? html`<form method="post" action="/admin/inbox/replay" data-confirm="Replay every failed event?">
              ${csrfField(ctx)}
              <input type="hidden" name="status" value="failed" />
              <button type="submit">Replay all failed</button>
            </form>`
          : ''
      }
      ${
        selectable
          ? html`<form method="post" action="/admin/inbox/replay" data-confirm="Replay the selected events?">
              ${csrfField(ctx)} ${table}
              <button type="submit">Replay selected</button>
            </form>`
          : table
      }
      ${more}`,
  );
}
