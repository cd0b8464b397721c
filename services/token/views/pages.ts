// The token service's pages: login, consent, logout confirmation, and the
// error and signed-out pages. Plain forms that work without JavaScript; every
// value goes through `html` (views/html.ts), which escapes it.
import crypto from 'node:crypto';
import { html, safeUrl, type SafeHtml } from './html.ts';

const STYLE = `
body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.2rem;padding:.55rem 1.1rem;font-size:1rem}
.error{background:#fde8e8;border:1px solid #c81e1e;padding:.6rem;margin-top:1rem}
.app{color:#444}ul.scopes li{margin:.2rem 0}.secondary{margin-left:.6rem}
`;

/** The stylesheet's CSP hash: the pages carry no other inline code and load nothing. */
export const STYLE_HASH = `'sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}'`;

function layout(title: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const errorBox = (message: string | undefined): SafeHtml | undefined =>
  message === undefined ? undefined : html`<p class="error" role="alert" id="error">${message}</p>`;

export interface LoginPageModel {
  /** The form's target: this request's path and validated query. */
  action: string;
  clientName: string;
  csrf: string;
  loginHint: string | undefined;
  error: string | undefined;
  registrationUrl: string | undefined;
}

export function loginPage(model: LoginPageModel): SafeHtml {
  return layout(
    'Sign in',
    html`<h1>Sign in</h1>
<p class="app">to continue to <strong id="client-name">${model.clientName}</strong></p>
${errorBox(model.error)}
<form method="post" action="${safeUrl(model.action)}">
<input type="hidden" name="csrf" value="${model.csrf}">
<input type="hidden" name="action" value="login">
<label for="username">Username or e-mail</label>
<input type="text" id="username" name="username" autocomplete="username" required value="${model.loginHint ?? ''}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${model.registrationUrl === undefined ? undefined : html`<p><a href="${safeUrl(model.registrationUrl)}">Create an account</a></p>`}`,
  );
}

export interface ConsentPageModel {
  action: string;
  clientName: string;
  username: string;
  scopes: readonly string[];
  csrf: string;
}

export function consentPage(model: ConsentPageModel): SafeHtml {
  return layout(
    'Allow access?',
    html`<h1>Allow access?</h1>
<p><strong id="client-name">${model.clientName}</strong> asks to access your account <strong>${model.username}</strong>:</p>
<ul class="scopes">${model.scopes.map((scope) => html`<li>${scope}</li>`)}</ul>
<form method="post" action="${safeUrl(model.action)}">
<input type="hidden" name="csrf" value="${model.csrf}">
<input type="hidden" name="action" value="consent">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
<p>You can withdraw this later from your account's apps.</p>`,
  );
}

export function logoutConfirmPage(model: {
  action: string;
  csrf: string;
  username: string;
  clientName: string | undefined;
  error?: string | undefined;
}): SafeHtml {
  return layout(
    'Sign out?',
    html`<h1>Sign out?</h1>
${errorBox(model.error)}
<p>${model.clientName === undefined ? 'An app' : html`<strong>${model.clientName}</strong>`} asks to sign you (<strong>${model.username}</strong>) out of every app you signed in to here.</p>
<form method="post" action="${safeUrl(model.action)}">
<input type="hidden" name="csrf" value="${model.csrf}">
<button type="submit" name="confirm" value="yes">Sign out</button>
</form>`,
  );
}

export function signedOutPage(): SafeHtml {
  return layout('Signed out', html`<h1>You are signed out</h1><p id="signed-out">You can close this window.</p>`);
}

export function errorPage(model: { title: string; message: string }): SafeHtml {
  return layout(model.title, html`<h1>${model.title}</h1>${errorBox(model.message)}`);
}
