/** POSIX shell quoting for the command lines the driver records. */

const SAFE = /^[A-Za-z0-9_/.:,=+@%^-]+$/;

/** Quotes a command line for `/bin/sh`: words that need it go in single quotes. */
export function quoteCommand(words: readonly string[]): string {
  return words.map((w) => (SAFE.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}
