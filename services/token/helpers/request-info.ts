import type { Context } from 'koa';

/** Who is calling, as recorded on sessions and audit events. */
export interface RequestInfo {
  ip: string;
  userAgent: string | null;
}

export function requestInfo(ctx: Context): RequestInfo {
  const userAgent = ctx.get('user-agent');
  return { ip: ctx.ip, userAgent: userAgent ? userAgent.slice(0, 512) : null };
}
