// POST /auth/login: the password grant for the first-party client, without
// OAuth ceremony.
import { z } from 'zod';
import { parameter } from './parameters.ts';
import { passwordCredentials } from './token.ts';

export const loginParams = z
  .object({
    ...passwordCredentials,
    scope: parameter(1024).optional(),
  })
  .refine((params) => params.username !== undefined || params.email !== undefined, {
    path: ['username'],
    // Also when other parameters are wrong: this one is named first.
    when: ({ value }) => typeof value === 'object' && value !== null,
    message: 'username or email is required',
  })
  // The refinement guarantees one of the two.
  .transform(({ username, email, password, scope }) => ({ login: (username ?? email) as string, password, scope }));
