import { html } from '../html.js';
import { page, type PageContext } from './layout.js';

export interface CatalogRow {
  key: string;
  type: string;
  description: string;
  deprecated: boolean;
}

export function catalogPage(ctx: PageContext, d: { rows: CatalogRow[]; note: string | null }) {
  return page(
    { ...ctx, section: 'catalog' },
    'Feature catalog',
    html`<h1>Feature catalog</h1>
      <p>The keys Stripe metadata, overrides and custom plans may use; anything else is refused.</p>
      ${d.note && html`<p class="note">${d.note}</p>`}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Type</th>
              <th scope="col">Description</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            ${d.rows.map(
              (r) =>
                html`<tr>
                  <th scope="row"><code>${r.key}</code></th>
                  <td>${r.type}</td>
                  <td>${r.description}</td>
                  <td>
                    ${r.deprecated ? html`<span class="badge warn">deprecated</span>` : html`<span class="badge">active</span>`}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`,
  );
}
