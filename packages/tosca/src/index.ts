/** TOSCA 2.0 compiler: files and CSARs to Floria templates, with precise diagnostics. */
export {};
