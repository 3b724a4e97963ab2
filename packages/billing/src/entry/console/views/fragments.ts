import { Html, html, type HtmlValue } from '../html.js';

/** A column of a dataTable: its header (text or markup) and a class for the header cell (`num`). */
export interface Column {
  label: HtmlValue;
  className?: string;
}

/**
 * A table in its scrolling wrapper, with a header row of column names. Columns given as `false`
 * (`admin && 'Configured'`) are left out, so a row template leaves out its cell the same way.
 */
export function dataTable(t: {
  caption?: HtmlValue;
  className?: string;
  columns: readonly (string | Html | Column | false | null | undefined)[];
  rows: HtmlValue;
}): Html {
  const columns = t.columns
    .filter((c): c is string | Html | Column => c !== false && c !== null && c !== undefined)
    .map((c) => (typeof c === 'string' || c instanceof Html ? { label: c } : c));
  return html`<div class="table-wrap">
    <table${t.className ? html` class="${t.className}"` : ''}>
      ${
        t.caption !== undefined &&
        html`<caption>
          ${t.caption}
        </caption>`
      }
      <thead>
        <tr>
          ${columns.map((c) => html`<th scope="col" ${c.className ? html` class="${c.className}"` : ''}>${c.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${t.rows}
      </tbody>
    </table>
  </div>`;
}

/** A figure of a `<dl class="figures">`: label, value, and a class for its row (`alert`). */
export type Figure = readonly [label: HtmlValue, value: HtmlValue, className?: string | null];

/** Labelled figures; entries given as `false` (`admin && [...]`) are left out. */
export function figures(items: readonly (Figure | false | null | undefined)[]): Html {
  return html`<dl class="figures">
    ${items
      .filter((f): f is Figure => Boolean(f))
      .map(
        ([label, v, className]) =>
          html`<div${className ? html` class="${className}"` : ''}><dt>${label}</dt><dd>${v}</dd></div>`,
      )}
  </dl>`;
}
