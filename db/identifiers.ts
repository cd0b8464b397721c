// The one canonical form of a login identifier (username or e-mail address).
// Storage, lookup, uniqueness and throttle keys all go through it, so no two
// spellings that one of them treats as the same can be told apart by another.
// (SQL lower() follows the database's locale and disagreed with JavaScript: it
// folded "İ" to "i", so a look-alike spelling found the account while the
// throttle, keyed in JavaScript, saw a fresh name.)
//
// NFKC folds compatibility forms (fullwidth letters, ligatures such as "ﬁ",
// the Kelvin sign); the locale-independent JavaScript lower-case then folds
// case. The result is idempotent over every code point.
export function canonicalIdentifier(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

/** The shape of the ids we generate for users and sessions (gen_random_uuid()), any case. */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export function isUuid(value: string): boolean {
  return new RegExp(UUID_PATTERN).test(value);
}
