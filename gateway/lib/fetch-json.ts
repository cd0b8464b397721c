// JSON GET with a timeout, for discovery, JWKS and the revocation catch-up.

export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`GET ${url} answered ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    this.name = 'HttpStatusError';
  }
}

export interface FetchJsonOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface JsonResponse {
  body: unknown;
  headers: Headers;
}

export async function fetchJson(url: string, options: FetchJsonOptions = {}): Promise<JsonResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json', ...options.headers }, redirect: 'error', signal });
  } catch (error) {
    // undici says only "fetch failed"; the reason (ECONNREFUSED, timeout, …) is in `cause`.
    const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
    throw new Error(`GET ${url} failed: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) throw new HttpStatusError(url, response.status, text);
  try {
    return { body: JSON.parse(text) as unknown, headers: response.headers };
  } catch {
    throw new Error(`GET ${url} did not return JSON`);
  }
}

/** RFC 6749 §2.3.1 client authentication: id and secret form-urlencoded, then Basic. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}
