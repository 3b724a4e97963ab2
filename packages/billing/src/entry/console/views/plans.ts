import type { PlanChangePreview, TenantPreview } from '../../../flows/preview/index.js';
import { html, type Html } from '../html.js';
import { metadataLines, type Metadata } from '../metadata-edit.js';
import type { PlanInUse } from '../../../io/tenant-store/index.js';
import { dataTable, figures } from './fragments.js';
import { csrfField, page, query, value, type PageContext } from './layout.js';

/** The product or price being edited, as Stripe has it now. */
export interface EditedObject {
  id: string;
  kind: 'product' | 'price';
  name: string | null;
  metadata: Metadata;
}

const SKIP_REASONS: Record<string, string> = {
  custom_config: 'on a custom configuration',
  plan_for_other_tenant: 'a custom plan made for another tenant',
  stale_read: 'moved to another price while the preview was read',
};

const editLink = (id: string) => `/admin/plans${query({ planId: id })}`;

export function planEditPage(
  ctx: PageContext,
  d: { plans: PlanInUse[]; object: EditedObject | null; lines: string },
): Html {
  return page(
    { ...ctx, section: 'plans' },
    d.object ? `Edit ${d.object.id}` : 'Plans',
    html`<h1>${d.object ? html`Edit <code>${d.object.id}</code>` : 'Plans'}</h1>
      <p>
        A plan is a Stripe product and its prices; what it grants is in their metadata. An edit is previewed
        first: which tenants it would change, each feature before and after, and who would be over a metered
        limit. Nothing is saved until you confirm it.
      </p>
      ${d.object && editForm(ctx, d.object, d.lines)}
      ${dataTable({
        caption: 'Plans tenants are on',
        columns: ['Product', 'Price', 'Bundle', { label: 'Tenants', className: 'num' }],
        rows: d.plans.map(
          (p) =>
            html`<tr>
              <td>
                <a href="${editLink(p.productId)}" aria-label="Edit product ${p.productId}"
                  ><code>${p.productId}</code></a
                >
              </td>
              <td>
                ${
                  p.priceId
                    ? html`<a href="${editLink(p.priceId)}" aria-label="Edit price ${p.priceId}"
                        ><code>${p.priceId}</code></a
                      >`
                    : html`<span class="muted">—</span>`
                }
              </td>
              <td>${p.bundle ?? html`<span class="muted">—</span>`}</td>
              <td class="num">${p.tenants}</td>
            </tr>`,
        ),
      })}
      <form method="get" action="/admin/plans" class="inline">
        <label
          >Another product or price <input name="planId" placeholder="prod_… or price_…" required
        /></label>
        <button type="submit" class="secondary">Open</button>
      </form>`,
  );
}

function editForm(ctx: PageContext, object: EditedObject, lines: string, title?: string): Html {
  return html`<section aria-labelledby="h-edit">
    <h2 id="h-edit">
      ${title ?? html`${object.kind === 'product' ? 'Product' : 'Price'} metadata${object.name && html` (${object.name})`}`}
    </h2>
    <form method="post" action="/admin/plans/preview">
      ${csrfField(ctx)}
      <input type="hidden" name="planId" value="${object.id}" />
      <label
        >Metadata, one <code>key=value</code> a line (delete a line to remove the key)
        <textarea name="metadata" rows="${Math.max(4, lines.split('\n').length + 2)}" spellcheck="false">
${lines}</textarea>
      </label>
      <button type="submit">Preview the change</button>
    </form>
  </section>`;
}

export function planPreviewPage(
  ctx: PageContext,
  d: {
    object: EditedObject;
    next: Metadata;
    /** What would be sent to Stripe ("" removes a key). */
    changes: Metadata;
    /** The digest of the metadata this preview was made against. */
    seen: string;
    /** Null when the metadata would not change. */
    preview: PlanChangePreview | null;
  },
): Html {
  const p = d.preview;
  const changed = p?.tenants.filter((t) => t.outcome === 'change') ?? [];
  const skipped = p?.tenants.filter((t) => t.outcome === 'skip') ?? [];
  const overLimit = changed.filter((t) => t.overLimit.length > 0);
  return page(
    { ...ctx, section: 'plans' },
    `Preview ${d.object.id}`,
    html`<h1>Preview: edit <code>${d.object.id}</code></h1>
      <p>Nothing has been written yet: not to Stripe, not to any tenant.</p>
      ${dataTable({
        caption: 'Metadata changes',
        className: 'diff',
        columns: ['Key', 'Before', 'After'],
        rows: Object.keys(d.changes)
          .sort()
          .map(
            (key) =>
              html`<tr
                class="${d.changes[key] === '' ? 'removed' : Object.hasOwn(d.object.metadata, key) ? 'changed' : 'added'}"
              >
                <th scope="row"><code>${key}</code></th>
                <td>${value(d.object.metadata[key])}</td>
                <td>${d.changes[key] === '' ? value(null) : d.changes[key]}</td>
              </tr>`,
          ),
      })}
      ${
        !p
          ? html`<p class="flash ok" role="status">No change: the metadata is the same.</p>`
          : html`${figures([
              ['Tenants on the plan', p.summary.tenants],
              ['Would change', p.summary.changed],
              ['Unchanged', p.summary.unchanged],
              ['Skipped by the sync', Object.values(p.summary.skipped).reduce((n, c) => n + (c ?? 0), 0)],
              ['Over a metered limit', p.summary.overLimit, p.summary.overLimit > 0 ? 'alert' : null],
            ])}
            ${planFeatures(p)} ${tenantChanges(changed)} ${overLimitTable(overLimit)} ${skippedTable(skipped)}
            ${
              p.truncated &&
              html`<p class="muted">
                The first ${p.tenants.length} tenants are listed; the figures above count every tenant.
              </p>`
            }`
      }
      <form
        method="post"
        action="/admin/plans/edit"
        data-confirm="Save this edit of ${d.object.id} in Stripe?${p ? ` It changes ${p.summary.changed} tenant(s).` : ''}"
      >
        ${csrfField(ctx)}
        <input type="hidden" name="planId" value="${d.object.id}" />
        <input type="hidden" name="metadata" value="${JSON.stringify(d.next)}" />
        <input type="hidden" name="seen" value="${d.seen}" />
        ${p && html`<button type="submit">Save in Stripe</button>`}
        <a href="${editLink(d.object.id)}">Start again from Stripe's metadata</a>
      </form>
      ${editForm(ctx, d.object, metadataLines(d.next), 'Change the edit')}`,
  );
}

function planFeatures(p: PlanChangePreview): Html {
  return html`${p.plans.map((plan) => {
    const keys = [...new Set([...Object.keys(plan.before), ...Object.keys(plan.after)])].sort();
    return dataTable({
      caption: html`The plan's features${plan.priceId && html` through <code>${plan.priceId}</code>`}`,
      className: 'diff',
      columns: ['Feature', 'Before', 'After'],
      rows: keys.map((key) => {
        const before = plan.before[key];
        const after = plan.after[key];
        const kind =
          before === undefined
            ? 'added'
            : after === undefined
              ? 'removed'
              : before !== after
                ? 'changed'
                : '';
        return html`<tr${kind ? html` class="${kind}"` : ''}>
          <th scope="row"><code>${key}</code></th>
          <td>${value(before)}</td>
          <td>${value(after)}</td>
        </tr>`;
      }),
    });
  })}`;
}

type Changed = Extract<TenantPreview, { outcome: 'change' }>;

function tenantChanges(changed: Changed[]): Html | false {
  return (
    changed.length > 0 &&
    dataTable({
      caption: 'Tenants that would change',
      columns: ['Tenant', 'Changes (before → after)'],
      rows: changed.map(
        (t) =>
          html`<tr>
            <th scope="row"><a href="/admin/tenants/${encodeURIComponent(t.tenantId)}">${t.tenantId}</a></th>
            <td>
              <ul class="changes">
                ${t.changes.map(
                  (c) => html`<li><code>${c.key}</code>: ${value(c.before)} → ${value(c.after)}</li>`,
                )}
              </ul>
            </td>
          </tr>`,
      ),
    })
  );
}

function overLimitTable(over: Changed[]): Html | false {
  return (
    over.length > 0 &&
    dataTable({
      caption: 'Tenants that would be over a metered limit',
      className: 'over-limit',
      columns: [
        'Tenant',
        'Key',
        { label: 'Used this period', className: 'num' },
        { label: 'Limit before', className: 'num' },
        { label: 'Limit after', className: 'num' },
      ],
      rows: over.flatMap((t) =>
        t.overLimit.map(
          (o) =>
            html`<tr>
              <th scope="row">
                <a href="/admin/tenants/${encodeURIComponent(t.tenantId)}">${t.tenantId}</a>
              </th>
              <td><code>${o.key}</code></td>
              <td class="num">${o.used}</td>
              <td class="num">${o.limitBefore ?? 'unlimited'}</td>
              <td class="num">${o.limitAfter}</td>
            </tr>`,
        ),
      ),
    })
  );
}

function skippedTable(skipped: Extract<TenantPreview, { outcome: 'skip' }>[]): Html | false {
  return (
    skipped.length > 0 &&
    dataTable({
      caption: 'Tenants the sync would leave alone',
      columns: ['Tenant', 'Why'],
      rows: skipped.map(
        (t) =>
          html`<tr>
            <th scope="row"><a href="/admin/tenants/${encodeURIComponent(t.tenantId)}">${t.tenantId}</a></th>
            <td>${SKIP_REASONS[t.reason] ?? t.reason}</td>
          </tr>`,
      ),
    })
  );
}
