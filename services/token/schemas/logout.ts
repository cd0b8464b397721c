// POST /auth/logout: which sessions to end.
import { z } from 'zod';

export const LOGOUT_SCOPES = ['local', 'global', 'others'] as const;

export const logoutParams = z.object({
  scope: z.enum(LOGOUT_SCOPES).default('local'),
});
