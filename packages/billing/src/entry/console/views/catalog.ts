import { html } from '../html.js';
import { csrfField, page, when, type PageContext } from './layout.js';
import { dataTable } from './fragments.js';

export interface CatalogRow {
  key: string;
  type: string;
  description: string;
  deprecatedAt: Date | null;
  combine?: string;
  overLimit?: string;
}

export function catalogPage(ctx: PageContext, d: { rows: CatalogRow[] }) {
  return page(
    { ...ctx, section: 'catalog' },
    'Feature catalog',
    html`<h1>Feature catalog</h1>
      <p>
        The keys Stripe metadata, overrides and custom plans may use; anything else is refused. Keys are never
        removed or retyped (stored features and Stripe metadata may hold them): a deprecated key stays
        readable, but new overrides refuse it. A number key combines across add-ons and subscriptions by
        <code>max</code> or <code>sum</code>; its over-limit policy says what follows a downgrade below usage.
      </p>
      ${dataTable({
        columns: ['Key', 'Type', 'Combine / over limit', 'Description', 'Status'],
        rows: d.rows.map(
          (r) =>
            html`<tr>
              <th scope="row"><code>${r.key}</code></th>
              <td>${r.type}</td>
              <td>${r.type === 'number' ? `${r.combine ?? 'max'} / ${r.overLimit ?? 'block_new'}` : '–'}</td>
              <td>
                <form method="post" action="/admin/catalog/describe" class="inline">
                  ${csrfField(ctx)}
                  <input type="hidden" name="key" value="${r.key}" />
                  <label class="sr-only" for="desc-${r.key}">Description of ${r.key}</label>
                  <input
                    id="desc-${r.key}"
                    name="description"
                    value="${r.description}"
                    maxlength="500"
                    required
                  />
                  <button type="submit" class="secondary">Save</button>
                </form>
              </td>
              <td>
                ${
                  r.deprecatedAt
                    ? html`<span class="badge warn">deprecated</span>
                        <span class="small muted">${when(r.deprecatedAt)}</span>`
                    : html`<form
                        method="post"
                        action="/admin/catalog/deprecate"
                        data-confirm="Deprecate ${r.key}? New overrides will refuse it."
                      >
                        ${csrfField(ctx)} <input type="hidden" name="key" value="${r.key}" /><span
                          class="badge"
                          >active</span
                        >
                        <button type="submit" class="secondary" aria-label="Deprecate ${r.key}">
                          Deprecate
                        </button>
                      </form>`
                }
              </td>
            </tr>`,
        ),
      })}
      <section class="card" aria-labelledby="h-add">
        <h2 id="h-add">Add a feature key</h2>
        <form method="post" action="/admin/catalog">
          ${csrfField(ctx)}
          <div class="row">
            <div>
              <label for="f-key">Key</label
              ><input id="f-key" name="key" required placeholder="platform.whiteLabel or max_users" />
            </div>
            <div>
              <label for="f-type">Type</label
              ><select id="f-type" name="type">
                <option>boolean</option>
                <option>number</option>
              </select>
            </div>
            <div>
              <label for="f-combine">Combine (numbers)</label
              ><select id="f-combine" name="combine">
                <option>max</option>
                <option>sum</option>
              </select>
            </div>
            <div>
              <label for="f-over">Over limit (numbers)</label
              ><input id="f-over" name="overLimit" placeholder="block_new, allow or grace:7" />
            </div>
          </div>
          <label for="f-desc">Description</label
          ><input id="f-desc" name="description" required maxlength="500" />
          <button type="submit">Add key</button>
        </form>
      </section>`,
  );
}
