// What makes an acceptable username, e-mail address and password: shared by
// self-registration and the admin CLI.
import { ValidationFailed } from '../errors.ts';

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;
// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our business.
const EMAIL = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;
const COMMON_PASSWORDS = new Set([
  'password123',
  'password1234',
  '1234567890',
  '12345678910',
  'qwertyuiop',
  'qwerty1234',
  'iloveyou123',
  'passw0rd123',
  'letmein1234',
  'welcome123',
  'adminadmin',
  'abc1234567',
]);

export interface Registration {
  username: string;
  email: string;
  password: string;
}

/** Normalises and checks a registration; throws ValidationFailed naming the field. */
export function checkRegistration(input: Registration): Registration {
  const username = input.username.normalize('NFKC');
  const email = input.email.normalize('NFKC');
  if (!USERNAME_PATTERN.test(username)) {
    throw new ValidationFailed(
      'username',
      'username must be 3-32 characters: letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
  if (!EMAIL.test(email) || email.length > 254) throw new ValidationFailed('email', 'email is not a valid address');
  checkPasswordStrength(input.password, username, email);
  return { username, email, password: input.password };
}

function checkPasswordStrength(password: string, username: string, email: string): void {
  if ([...password].length < PASSWORD_MIN_LENGTH) {
    throw new ValidationFailed('password', `password must be at least ${PASSWORD_MIN_LENGTH} characters`);
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    throw new ValidationFailed('password', `password must be at most ${PASSWORD_MAX_LENGTH} characters`);
  }
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower) || new Set(lower).size < 4) {
    throw new ValidationFailed('password', 'password is too easy to guess');
  }
  if (lower.includes(username.toLowerCase()) || lower.includes(email.toLowerCase().split('@')[0] as string)) {
    throw new ValidationFailed('password', 'password must not contain the username or e-mail address');
  }
}
