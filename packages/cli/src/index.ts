/** The khutulun command-line interface: `main(argv, io)` runs one invocation. */
export { type CliErrorKind, isCliError } from './cli-error.js';
export type { CliIo } from './cli-io.js';
export { main } from './main.js';
