import { AUDIT_SOURCES, type AuditEntry } from '../../../io/audit/index.js';
import { diffSnapshots, formatJsonValue } from '../diff.js';
import { html, type Html } from '../html.js';
import { page, query, when, type PageContext } from './layout.js';

export function auditTimeline(entries: AuditEntry[], options: { showTenant: boolean }): Html {
  if (entries.length === 0) return html`<p class="muted">No audit entries.</p>`;
  return html`<ol class="timeline">
    ${entries.map((e) => {
      const lines = diffSnapshots(e.before, e.after);
      return html`<li>
        <div class="when">${when(e.createdAt)}</div>
        <div class="what">
          <strong>${e.action}</strong>
          ${options.showTenant && html` on <a href="/admin/tenants/${encodeURIComponent(e.tenantId)}">${e.tenantId}</a>`}
          by <a href="/admin/audit${query({ actor: e.actor })}"><code>${e.actor}</code></a>
          <span class="badge">${e.source}</span>
          ${e.stripeEventId && html`<span class="muted small">event <code>${e.stripeEventId}</code></span>`}
        </div>
        ${
          lines.length === 0
            ? html`<p class="muted small">No field changed.</p>`
            : html`<ul class="diff-lines">
                ${lines.map(
                  (l) =>
                    html`<li class="${l.kind}">
                      <code>${l.path}</code>:
                      ${
                        l.kind === 'added'
                          ? html`<ins>${formatJsonValue(l.after)}</ins>`
                          : l.kind === 'removed'
                            ? html`<del>${formatJsonValue(l.before)}</del>`
                            : html`<del>${formatJsonValue(l.before)}</del> →
                                <ins>${formatJsonValue(l.after)}</ins>`
                      }
                    </li>`,
                )}
              </ul>`
        }
      </li>`;
    })}
  </ol>`;
}

export interface AuditFilters {
  tenant?: string;
  source?: string;
  actor?: string;
  before?: string;
}

export function auditPage(
  ctx: PageContext,
  d: { filters: AuditFilters; entries: AuditEntry[]; nextCursor: string | null },
) {
  const f = d.filters;
  return page(
    { ...ctx, section: 'audit' },
    'Audit history',
    html`<h1>
        Audit
        history${f.tenant && html` of <a href="/admin/tenants/${encodeURIComponent(f.tenant)}">${f.tenant}</a>`}
      </h1>
      <form method="get" action="/admin/audit" class="filters">
        <div>
          <label for="a-tenant">Tenant</label
          ><input id="a-tenant" name="tenant" value="${f.tenant ?? ''}" placeholder="all tenants" />
        </div>
        <div>
          <label for="a-source">Source</label
          ><select id="a-source" name="source">
            <option value="">Any</option>
            ${AUDIT_SOURCES.map((s) => html`<option${f.source === s ? html` selected` : ''}>${s}</option>`)}
          </select>
        </div>
        <div>
          <label for="a-actor">Actor</label
          ><input id="a-actor" name="actor" value="${f.actor ?? ''}" placeholder="e.g. admin:ops" />
        </div>
        <div class="actions"><button type="submit">Filter</button> <a href="/admin/audit">Reset</a></div>
      </form>
      ${auditTimeline(d.entries, { showTenant: !f.tenant })}
      <nav class="pager" aria-label="Pages">
        ${f.before && html`<a href="/admin/audit${query({ ...f, before: undefined })}">Newest</a>`}
        ${d.nextCursor && html`<a href="/admin/audit${query({ ...f, before: d.nextCursor })}" rel="next">Older entries</a>`}
      </nav>`,
  );
}
