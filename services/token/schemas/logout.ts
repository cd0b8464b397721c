// POST /auth/logout: which sessions to end.
import { z } from 'zod';

export const LOGOUT_SCOPES = ['local', 'global', 'others'] as const;

export const logoutParams = z.object({
  scope: z
    .enum(LOGOUT_SCOPES, {
      // Repeated or not a string: the common messages (errors.ts).
      error: (issue) => (typeof issue.input === 'string' ? `scope must be one of ${LOGOUT_SCOPES.join(', ')}` : undefined),
    })
    .default('local'),
});
