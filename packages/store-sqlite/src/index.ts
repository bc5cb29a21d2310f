/** SQLite Floria store (the embedded default). */
export {};
