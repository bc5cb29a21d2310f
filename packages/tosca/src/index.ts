/** TOSCA 2.0 compiler: files and CSARs to Floria templates, with precise diagnostics. */

export { type CompileOptions, type CompileResult, compile } from './compile.js';
export type { Diagnostic } from './diagnostic.js';
