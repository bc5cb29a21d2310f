/** The conformance suite every Floria store backend passes. */
export {};
