// A small fetch wrapper for HTTP-level tests.
export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function request<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; body?: string; token?: string } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(base + path, { method, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
  scope: string;
}

let userCounter = 0;

/** A unique user per call, so that tests sharing one database never collide. */
export function newUser(prefix = 'user'): { username: string; email: string; password: string } {
  userCounter += 1;
  const id = `${prefix}${process.pid}x${userCounter}${Math.random().toString(36).slice(2, 6)}`;
  return { username: id, email: `${id}@example.com`, password: 'Correct-Horse-Battery-9' };
}

export async function registerAndLogin(
  base: string,
  prefix = 'user',
): Promise<{ user: ReturnType<typeof newUser>; userId: string; tokens: TokenPair }> {
  const user = newUser(prefix);
  const registered = await request<{ id: string }>(base, 'POST', '/auth/register', { json: user });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
  const tokens = await login(base, user.username, user.password);
  return { user, userId: registered.body.id, tokens };
}

export async function login(base: string, username: string, password: string): Promise<TokenPair> {
  const reply = await request<TokenPair>(base, 'POST', '/auth/login', { json: { username, password } });
  if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.text}`);
  return reply.body;
}

export async function refresh(
  base: string,
  refreshToken: string,
): Promise<Reply<TokenPair & { error?: string; error_description?: string }>> {
  return request(base, 'POST', '/oauth/token', {
    form: { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'web' },
  });
}
