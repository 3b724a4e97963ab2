import type { Principal } from '../../../io/http/auth.js';
import { html, type Html, type HtmlValue } from '../html.js';

/** What every page needs to render its shell: who is signed in and this session's CSRF token. */
export interface PageContext {
  principal: Principal | null;
  csrf: string;
  /** A one-time message from the previous POST (post/redirect/get). */
  flash: Flash | null;
  /** The nav entry to mark as current. */
  section?: Section;
}

export type Section = 'overview' | 'tenants' | 'audit' | 'inbox' | 'drift' | 'catalog' | 'plans';
export interface Flash {
  kind: 'ok' | 'error';
  text: string;
  /** A link shown with a copy button (e.g. a new checkout link). */
  link?: string;
}

const NAV: Array<[Section, string, string]> = [
  ['overview', 'Overview', '/admin'],
  ['tenants', 'Tenants', '/admin/tenants'],
  ['audit', 'Audit history', '/admin/audit'],
  ['inbox', 'Webhook inbox', '/admin/inbox'],
  ['drift', 'Drift', '/admin/drift'],
  ['catalog', 'Catalog', '/admin/catalog'],
  ['plans', 'Plans', '/admin/plans'],
];

export function page(ctx: PageContext, title: string, body: Html): Html {
  const p = ctx.principal;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Entitlements console</title>
        <link rel="stylesheet" href="/admin/assets/console.css" />
        <script src="/admin/assets/console.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/admin">Entitlements</a>
          ${
            p &&
            html`<nav aria-label="Main">
                <ul>
                  ${
                    p.role === 'admin'
                      ? NAV.map(
                          ([key, label, href]) =>
                            html`<li>
                              <a href="${href}" ${ctx.section === key ? html` aria-current="page"` : ''}
                                >${label}</a
                              >
                            </li>`,
                        )
                      : html`<li>
                          <a href="/admin/tenants/${p.tenantId}" aria-current="page">My tenant</a>
                        </li>`
                  }
                </ul>
              </nav>
              <form method="post" action="/admin/logout" class="whoami">
                <span>${p.name} <span class="badge">${p.role}</span></span>
                ${csrfField(ctx)}<button type="submit" class="link">Sign out</button>
              </form>`
          }
        </header>
        <main id="main" tabindex="-1">${ctx.flash && flashBox(ctx.flash)} ${body}</main>
      </body>
    </html>`;
}

function flashBox(flash: Flash): Html {
  return html`<div class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">
    <p>${flash.text}</p>
    ${flash.link && copyable(flash.link, 'Checkout link')}
  </div>`;
}

/** A read-only text field with a copy button (the button is added by console.js). */
export function copyable(value: string, label: string): Html {
  return html`<div class="copy">
    <label>${label} <input type="text" readonly value="${value}" data-copy /></label>
  </div>`;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;
}

export function isAdmin(ctx: PageContext): boolean {
  return ctx.principal?.role === 'admin';
}

export function when(date: Date | string | null | undefined): Html {
  if (!date) return html`<span class="muted">—</span>`;
  const d = typeof date === 'string' ? new Date(date) : date;
  const iso = d.toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 19)} UTC</time>`;
}

export function value(v: HtmlValue | undefined): Html {
  if (v === null || v === undefined) return html`<span class="muted">—</span>`;
  if (typeof v === 'boolean') return html`<span class="bool ${v ? 'on' : 'off'}">${v ? 'on' : 'off'}</span>`;
  return html`${v}`;
}

/** `?a=1&b=2` from the given values, leaving out empty ones. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function errorPage(ctx: PageContext, status: number, message: string): Html {
  return page(
    ctx,
    `Error ${status}`,
    html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1>
      <p class="flash error" role="alert">${message}</p>
      <p><a href="/admin">Back to the console</a></p>`,
  );
}
