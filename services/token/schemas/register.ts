// POST /auth/register. The schema checks each field's shape; what makes a good
// username, address or password is checked after NFKC normalisation by
// helpers/registration-rules.ts (shared with the admin CLI), and is stated here
// for the OpenAPI document only.
import { z } from 'zod';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, USERNAME_PATTERN } from '../helpers/registration-rules.ts';
import { parameter } from './parameters.ts';

export const registerParams = z.object({
  username: parameter(32).meta({ pattern: USERNAME_PATTERN.source }),
  email: parameter(254).meta({ format: 'email' }),
  password: parameter(PASSWORD_MAX_LENGTH).meta({ minLength: PASSWORD_MIN_LENGTH }),
});
