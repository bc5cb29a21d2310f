/**
 * POSIX shell quoting, so that every command line a driver records (`describe`) can be pasted
 * into a shell as is.
 */

const SAFE = /^[A-Za-z0-9_/.:,=+@%^-]+$/;

/** Quotes one word for `/bin/sh`: unchanged when it needs no quoting, else in single quotes. */
export function quote(word: string): string {
  if (SAFE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Quotes a command line (program and arguments) for `/bin/sh`. */
export function quoteCommand(words: readonly string[]): string {
  return words.map(quote).join(' ');
}
