import { html } from '../html.js';
import { page, type PageContext } from './layout.js';

export function loginPage(ctx: PageContext, options: { next: string; csrf: string; error?: string }) {
  return page(
    ctx,
    'Sign in',
    html`<section class="card narrow">
      <h1>Sign in</h1>
      <p>
        Use an admin API token, or a tenant token to see that tenant read-only. The token is checked against
        <code>ADMIN_API_TOKENS</code> and the <code>api_tokens</code> table. The session is kept on the
        server; its cookie carries only a random id.
      </p>
      ${options.error && html`<p class="flash error" role="alert">${options.error}</p>`}
      <form method="post" action="/admin/login">
        <input type="hidden" name="next" value="${options.next}" />
        <input type="hidden" name="_csrf" value="${options.csrf}" />
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
        <button type="submit">Sign in</button>
      </form>
    </section>`,
  );
}
