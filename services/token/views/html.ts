// HTML by tagged templates that escape every interpolated value: a page is
// built only from `html`-tagged literals, so a value can become markup only by
// being an `html` result itself. No template engine, no raw-string escape hatch.
//
//   html`<p>Signing in to ${client.name}</p>`         // escaped text
//   html`<input value="${loginHint}">`                 // escaped attribute (always double-quoted)
//   html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`
//
// Attributes must be written double-quoted in the literal; values are escaped
// for both text and attribute contexts. URLs go through `safeUrl`.

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (character) => ESCAPES[character] as string);
}

/** Markup produced by `html`: safe to interpolate into another `html` literal as it is. */
export interface SafeHtml {
  toString(): string;
}

// Only objects made by `html` below are markup; nothing else can be passed off as one.
const produced = new WeakSet<object>();

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return '';
  if (typeof value === 'object' && produced.has(value)) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let markup = strings[0] as string;
  for (let i = 0; i < values.length; i += 1) markup += render(values[i]) + (strings[i + 1] as string);
  const result: SafeHtml = { toString: () => markup };
  produced.add(result);
  return result;
}

/**
 * A URL for an href or a form action: http(s) absolute URLs and same-origin
 * paths only (no `javascript:`, `data:` or protocol-relative `//host`).
 */
export function safeUrl(url: string): string {
  if (url.startsWith('/') && !url.startsWith('//') && !url.startsWith('/\\')) return url;
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'https:' || parsed.protocol === 'http:') return parsed.href;
  } catch {
    // fall through
  }
  throw new Error('refusing to render a URL that is neither http(s) nor a same-origin path');
}
